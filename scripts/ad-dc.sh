#!/usr/bin/env bash
# Throwaway Samba Active Directory domain controller for the Kerberos tests (issue 17).
#
#   scripts/ad-dc.sh start DIR [ADDRESS [NTLM]]
#   scripts/ad-dc.sh stop DIR
#
# start: provisions the domain SMBLAYER.TEST (NetBIOS SMBLAYER, DC dc1.smblayer.test) into DIR, with every bit of
# state, logs, sockets and pid files under DIR; binds it to ADDRESS (default 127.0.0.10) alone, adding that address to
# `lo` if it is not there (stop removes it again only then). No DNS service, no DNS forwarder, no NetBIOS: nothing
# leaves loopback. NTLM is switched off (`ntlm auth = disabled`: only Kerberos logs on) unless NTLM is "on" (the
# variant where a client may fall back to NTLM). Serves DIR/data as the writable share "data", and creates the user
# alice. Two DCs run side by side on two addresses (the tests use 127.0.0.10, NTLM off, and 127.0.0.11, NTLM on).
#
# Nothing is written to the system: winbindd's socket directory, compiled into Samba's client library as
# /run/samba/winbindd, is a directory of DIR bind-mounted there in a mount namespace of the DC's own; the DC's names go
# into DIR/hosts (the system's /etc/hosts plus "ADDRESS dc1.smblayer.test dc1"), which clients get the same way
# (`unshare --mount` + `mount --bind DIR/hosts /etc/hosts`, as the tests do), and its KDC into DIR/krb5.conf
# (KRB5_CONFIG).
#
# Prints (and writes to DIR/dc.env) REALM=, DOMAIN=, HOST=, ADDRESS=, USER=, PASSWORD=, SHAREDIR=, KRB5_CONFIG=,
# HOSTS=, PID=. If SAMBA_WATCH_PID is set, a watchdog stops the DC as soon as that process is gone.
#
# stop: kills the DC (its process group), the watchdog, and removes the address if start added it. Deletes nothing.
#
# Must run as root. Needs samba, samba-tool (samba-common-bin), winbindd (winbind), unshare and mount (util-linux,
# mount), ip (iproute2).
set -euo pipefail

REALM=SMBLAYER.TEST
DOMAIN=SMBLAYER
HOST=dc1.smblayer.test
DC_USER=alice
DC_PASSWORD='Alice-Pass-1'
ADMIN_PASSWORD='Admin-Pass-1'
START_TIMEOUT="${AD_DC_START_TIMEOUT:-60}"

die() {
  echo "ad-dc.sh: $*" >&2
  exit 1
}

listening() { # ADDRESS PORT
  ss -Hltn "src $1:$2" 2>/dev/null | grep -q LISTEN
}

start() {
  local dir="$1" address="${2:-127.0.0.10}" ntlm="${3:-off}"
  local ntlm_auth=disabled
  [[ "$ntlm" == on ]] && ntlm_auth=ntlmv2-only
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  [[ "$address" == 127.* ]] || die "$address is not a loopback address"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if listening "$address" 445 || listening "$address" 88; then
    die "something already listens on $address:445 or :88 (a DC left running? scripts/ad-dc.sh stop DIR)"
  fi
  local added=0
  if ! ip -o addr show dev lo | grep -qw "inet $address/32"; then
    ip addr add "$address/32" dev lo
    added=1
  fi
  echo "$added $address" > "$dir/address.added"

  rm -rf "$dir/private" "$dir/state" "$dir/etc" "$dir/cache" "$dir/bind-dns"
  mkdir -p "$dir/log" "$dir/run" "$dir/winbindd-run" "$dir/data"
  chmod 1777 "$dir/data"
  samba-tool domain provision --targetdir="$dir" --realm="$REALM" --domain="$DOMAIN" --server-role=dc \
    --dns-backend=NONE --host-name=dc1 --adminpass="$ADMIN_PASSWORD" \
    --option="interfaces=$address" --option="bind interfaces only=yes" > "$dir/log/provision.log" 2>&1 \
    || { tail -20 "$dir/log/provision.log" >&2; die "provisioning failed (log: $dir/log/provision.log)"; }

  # The provisioned smb.conf, made private and quiet: logs and sockets under DIR, only the services the tests use (no
  # DNS, no NetBIOS, no replication), no DNS forwarder, NTLM off, and the data share.
  local conf="$dir/etc/smb.conf"
  sed -i \
    -e '/^\s*dns forwarder\s*=/d' \
    -e '/^\s*log file\s*=/d' \
    -e '/^\s*panic action\s*=/d' \
    -e 's/^\(\s*server services\s*=\).*/\1 s3fs, rpc, ldap, cldap, kdc, winbindd/' \
    -e "/^\[global\]/a\\
\tlog file = $dir/log/log.%m\\
\tpid directory = $dir/run\\
\tncalrpc dir = $dir/run/ncalrpc\\
\tntp signd socket directory = $dir/run/ntp_signd\\
\tntlm auth = $ntlm_auth\\
\tdisable netbios = yes\\
\tsmb ports = 445" \
    "$conf"
  grep -q '^\s*server services\s*=' "$conf" || sed -i '/^\[global\]/a\	server services = s3fs, rpc, ldap, cldap, kdc, winbindd' "$conf"
  cat >> "$conf" <<EOF

[data]
	path = $dir/data
	read only = No
EOF

  cat > "$dir/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	dns_canonicalize_hostname = false
	rdns = false
[realms]
	$REALM = {
		kdc = $address
	}
[domain_realm]
	.${REALM,,} = $REALM
	${REALM,,} = $REALM
EOF
  { cat /etc/hosts; echo "$address $HOST dc1"; } > "$dir/hosts"

  samba-tool user create "$DC_USER" "$DC_PASSWORD" -s "$conf" > "$dir/log/user.log" 2>&1 || die "creating $DC_USER failed: $(cat "$dir/log/user.log")"
  samba-tool user setexpiry "$DC_USER" --noexpiry -s "$conf" >> "$dir/log/user.log" 2>&1 || true

  # The DC in a mount namespace of its own, where winbindd's compiled-in socket directory is one of DIR.
  setsid unshare --mount --propagation private -- sh -c \
    'mount --bind "$1" /run/samba && exec samba -s "$2" -i -M single' sh "$dir/winbindd-run" "$conf" \
    > "$dir/log/samba.out" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$dir/dc.pid"

  local waited=0
  until listening "$address" 445 && listening "$address" 88; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$dir/log/samba.out" >&2
      die "samba exited during start (log: $dir/log/samba.out)"
    fi
    sleep 0.5
    waited=$((waited + 1))
    [[ $waited -le $((START_TIMEOUT * 2)) ]] || { stop "$dir"; die "not listening on $address:445 and :88 within ${START_TIMEOUT}s"; }
  done

  if [[ -n "${SAMBA_WATCH_PID:-}" ]]; then
    ( while kill -0 "$SAMBA_WATCH_PID" 2>/dev/null; do sleep 1; done; "$0" stop "$dir" >/dev/null 2>&1 ) > /dev/null 2>&1 &
    echo $! > "$dir/watchdog.pid"
  fi

  cat > "$dir/dc.env" <<EOF
REALM=$REALM
DOMAIN=$DOMAIN
HOST=$HOST
ADDRESS=$address
USER=$DC_USER
PASSWORD=$DC_PASSWORD
SHAREDIR=$dir/data
KRB5_CONFIG=$dir/krb5.conf
HOSTS=$dir/hosts
PID=$pid
EOF
  cat "$dir/dc.env"
}

stop() {
  local dir="$1"
  [[ -d "$dir" ]] || return 0
  if [[ -f "$dir/watchdog.pid" ]]; then
    kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
    rm -f "$dir/watchdog.pid"
  fi
  if [[ -f "$dir/dc.pid" ]]; then
    local pid
    pid="$(cat "$dir/dc.pid")"
    # setsid made the DC a process group of its own: samba, smbd, winbindd and their children.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/dc.pid"
  fi
  if [[ -f "$dir/address.added" ]]; then
    local added address
    read -r added address < "$dir/address.added" || true
    if [[ "$added" == 1 && -n "$address" ]]; then
      ip addr del "$address/32" dev lo 2>/dev/null || true
    fi
    rm -f "$dir/address.added"
  fi
}

case "${1:-}" in
  start) [[ $# -ge 2 ]] || die "usage: $0 start DIR [ADDRESS [on|off]]"; start "$2" "${3:-}" "${4:-}" ;;
  stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) echo "usage: $0 start DIR [ADDRESS [on|off]] | stop DIR" >&2; exit 2 ;;
esac
