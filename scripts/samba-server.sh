#!/usr/bin/env bash
# Throwaway private Samba (smbd only) for integration tests.
#
#   scripts/samba-server.sh start DIR [PROFILE]
#   scripts/samba-server.sh stop DIR
#
# start: writes DIR/smb.conf, keeps every bit of Samba state (private, state,
# lock, cache, pid, ncalrpc, logs) under DIR, serves DIR/share as the writable
# share "share" for user smbtest, listens on a free TCP port on 127.0.0.1 and ::1
# (loopback only; ::1 is skipped by smbd where the host has no IPv6 loopback),
# waits until the port accepts connections and prints (and writes to
# DIR/server.env) PORT=, USER=, PASSWORD=, SHARE=, SHAREDIR=, PID=, plus CONF=,
# PROFILE=, USER_UID=, USER_GID=.
#
# PROFILE: default | signing | smb2_10 | smb3_00 | smb3_02 | encrypt
#          | encrypt_aes128ccm | encrypt_aes128gcm | encrypt_aes256ccm | encrypt_aes256gcm
#            (encryption required, the server allows only that cipher)
#          | guest (map to guest = bad user; an extra share "public" with guest ok)
#          | shares (300 more shares, s000 to s299, each with a comment: a share list of many fragments)
#          | dfs (host msdfs = yes; a DFS root share "dfsroot" whose links refer to: link1 127.0.0.22's
#            share; link2 127.0.0.23's (down) then 127.0.0.22's share\sub; link3 the second DFS root
#            "dfsroot2" on 127.0.0.21, whose link "inner" refers to 127.0.0.22's share\sub; nowhere
#            127.0.0.23's and 127.0.0.25's shares (both down); goneshare a share 127.0.0.22 does
#            not have, then 127.0.0.22's share\sub)
#
# With SAMBA_ADDRESS (a loopback address other than 127.0.0.1, e.g. 127.0.0.22) the server listens there alone,
# on port 445 (DFS referrals carry no port), adding the address to lo if it is missing; stop removes it then.
#
# If SAMBA_WATCH_PID is set, a small watchdog stops the server as soon as that
# process is gone (so a crashed test run does not leak smbd processes).
#
# stop: kills that smbd, all of its children (per-connection smbd processes,
# samba-dcerpcd/rpcd_* helpers) and the watchdog. It deletes nothing but its
# own pid markers.
#
# smbstatus for the instance:  smbstatus -s DIR/smb.conf   (e.g. -L for locks)
#
# Must run as root (creates the Unix account smbtest if missing; smbd needs
# root to switch to the connecting user).
set -euo pipefail

SMB_USER="${SAMBA_TEST_USER:-smbtest}"
SMB_PASSWORD="${SAMBA_TEST_PASSWORD:-SmbTest-Pass1}"
START_TIMEOUT="${SAMBA_START_TIMEOUT:-20}"
STOP_TIMEOUT=10

die() {
  echo "samba-server.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start DIR [default|signing|smb2_10|smb3_00|smb3_02|encrypt|encrypt_CIPHER|guest]" >&2
  echo "       $0 stop DIR" >&2
  exit 2
}

find_bin() {
  local name="$1" p
  for p in "$(command -v "$name" 2>/dev/null || true)" "/usr/sbin/$name" "/usr/bin/$name"; do
    if [[ -n "$p" && -x "$p" ]]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# All TCP ports currently in use on this host (any state), decimal, one per line.
used_ports() {
  local f
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r "$f" ]] || continue
    # mawk (Debian's default awk) has no strtonum: convert the hex in bash.
    awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f" | while read -r hex; do echo $((16#$hex)); done
  done
}

pick_port() {
  local used port i
  used="$(used_ports | sort -un | tr '\n' ' ')"
  for ((i = 0; i < 200; i++)); do
    # Below the default ephemeral range (32768-60999) so client sockets do not collide.
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    if [[ " $used " != *" $port "* ]]; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

port_open() {
  (exec 3<>"/dev/tcp/${SAMBA_ADDRESS:-127.0.0.1}/$1") 2>/dev/null
}

# PIDs of processes that belong to the instance in DIR: the process group of
# the main smbd, its descendants, and anything whose command line names our
# config file (forked smbd children and samba-dcerpcd/rpcd_* helpers).
instance_pids() {
  local dir="$1" main="${2:-}" conf="$1/smb.conf" p cmd
  local -A seen=()
  if [[ -n "$main" ]]; then
    for p in $(ps -e -o pid=,pgid= | awk -v g="$main" '$2 == g { print $1 }'); do
      seen[$p]=1
    done
    local frontier=("$main") next
    seen[$main]=1
    while ((${#frontier[@]})); do
      next=()
      for p in "${frontier[@]}"; do
        for c in $(ps -e -o pid=,ppid= | awk -v pp="$p" '$2 == pp { print $1 }'); do
          if [[ -z "${seen[$c]:-}" ]]; then
            seen[$c]=1
            next+=("$c")
          fi
        done
      done
      frontier=("${next[@]+"${next[@]}"}")
    done
  fi
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    cmd="$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null || true)"
    if [[ "$cmd" == *"$conf"* && "$cmd" != *samba-server.sh* ]]; then
      seen[$p]=1
    fi
  done
  for p in "${!seen[@]}"; do
    [[ "$p" != "$$" && -d "/proc/$p" ]] && echo "$p"
  done
  return 0
}

kill_instance() {
  local dir="$1" main="${2:-}" pids i
  if [[ -n "$main" ]]; then
    kill -TERM -- "-$main" 2>/dev/null || true
  fi
  pids="$(instance_pids "$dir" "$main")"
  [[ -n "$pids" ]] && kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    pids="$(instance_pids "$dir" "$main")"
    [[ -z "$pids" ]] && return 0
    sleep 0.1
  done
  [[ -n "$main" ]] && kill -KILL -- "-$main" 2>/dev/null || true
  pids="$(instance_pids "$dir" "$main")"
  [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids="$(instance_pids "$dir" "$main")"
    [[ -z "$pids" ]] && return 0
    sleep 0.1
  done
  echo "samba-server.sh: processes still alive: $pids" >&2
  return 1
}

write_conf() {
  local dir="$1" port="$2" profile="$3" extra guest_map="never"
  case "$profile" in
    default) extra="server max protocol = SMB3_11" ;;
    signing) extra=$'server max protocol = SMB3_11\n   server signing = mandatory' ;;
    smb2_10) extra="server max protocol = SMB2_10" ;;
    smb3_00) extra="server max protocol = SMB3_00" ;;
    smb3_02) extra="server max protocol = SMB3_02" ;;
    encrypt) extra=$'server max protocol = SMB3_11\n   server smb encrypt = required' ;;
    encrypt_aes128ccm) extra=$'server max protocol = SMB3_11\n   server smb encrypt = required\n   server smb3 encryption algorithms = AES-128-CCM' ;;
    encrypt_aes128gcm) extra=$'server max protocol = SMB3_11\n   server smb encrypt = required\n   server smb3 encryption algorithms = AES-128-GCM' ;;
    encrypt_aes256ccm) extra=$'server max protocol = SMB3_11\n   server smb encrypt = required\n   server smb3 encryption algorithms = AES-256-CCM' ;;
    encrypt_aes256gcm) extra=$'server max protocol = SMB3_11\n   server smb encrypt = required\n   server smb3 encryption algorithms = AES-256-GCM' ;;
    guest) extra="server max protocol = SMB3_11" guest_map="bad user" ;;
    dfs) extra=$'server max protocol = SMB3_11\n   host msdfs = yes' ;;
    shares) extra="server max protocol = SMB3_11" ;;
    *) die "unknown profile '$profile'" ;;
  esac
  cat >"$dir/smb.conf" <<EOF
# Generated by scripts/samba-server.sh (profile: $profile). Throwaway test server.
[global]
   server role = standalone server
   workgroup = SMBTEST
   netbios name = SMBLAYERTEST
   security = user
   map to guest = $guest_map
   passdb backend = tdbsam:$dir/private/passdb.tdb

   smb ports = $port
   interfaces = ${SAMBA_ADDRESS:-127.0.0.1 ::1}
   bind interfaces only = yes
   disable netbios = yes

   private dir = $dir/private
   state directory = $dir/state
   lock directory = $dir/lock
   cache directory = $dir/cache
   pid directory = $dir/pid
   ncalrpc dir = $dir/ncalrpc
   binddns dir = $dir/binddns
   usershare path = $dir/usershares
   log file = $dir/log/log.smbd
   log level = 1
   max log size = 10000

   load printers = no
   printing = bsd
   printcap name = /dev/null
   disable spoolss = yes

   server min protocol = SMB2_02
   $extra

   smb2 leases = yes
   durable handles = yes
   kernel oplocks = no
   kernel share modes = no
   posix locking = no
   ea support = yes
   store dos attributes = yes
   unix extensions = no

[share]
   path = $dir/share
   read only = no
   browseable = yes
   valid users = $SMB_USER
   force user = $SMB_USER
   create mask = 0664
   directory mask = 0775
EOF
  if [[ "$profile" == dfs ]]; then
    # A DFS root share "dfsroot": its links are symbolic links Samba reads as referrals (targets need not exist: the
    # referral is what is answered). link1 has one target, link2 two, link3 leads to another DFS root.
    mkdir -p "$dir/dfsroot" "$dir/dfsroot2"
    ln -sfn 'msdfs:127.0.0.22\share' "$dir/dfsroot/link1"
    ln -sfn 'msdfs:127.0.0.23\share,127.0.0.22\share\sub' "$dir/dfsroot/link2"
    ln -sfn 'msdfs:127.0.0.21\dfsroot2' "$dir/dfsroot/link3"
    ln -sfn 'msdfs:127.0.0.23\share,127.0.0.25\share' "$dir/dfsroot/nowhere"
    ln -sfn 'msdfs:127.0.0.22\gone,127.0.0.22\share\sub' "$dir/dfsroot/goneshare"
    ln -sfn 'msdfs:127.0.0.22\share\sub' "$dir/dfsroot2/inner"
    chown "$SMB_USER" "$dir/dfsroot" "$dir/dfsroot2"
    add_share "$dir" dfsroot "msdfs root = yes" "valid users = $SMB_USER"
    add_share "$dir" dfsroot2 "msdfs root = yes" "valid users = $SMB_USER"
  fi
  if [[ "$profile" == shares ]]; then
    local n
    mkdir -p "$dir/many"
    for n in $(seq -w 0 299); do
      printf '\n[s%s]\n   path = %s/many\n   read only = yes\n   comment = share number %s of the many-shares profile\n' "$n" "$dir" "$n" >>"$dir/smb.conf"
    done
  fi
  if [[ "$profile" == guest ]]; then
    mkdir -p "$dir/public"
    chmod 0777 "$dir/public"
    add_share "$dir" public "guest ok = yes"
  fi
}

# add_share DIR NAME [OPTION...]: a writable share NAME on DIR/NAME, files owned by the test user, with OPTIONs.
add_share() {
  local dir="$1" name="$2" option
  shift 2
  printf '\n[%s]\n   path = %s\n   read only = no\n   force user = %s\n' "$name" "$dir/$name" "$SMB_USER" >>"$dir/smb.conf"
  for option in "$@"; do
    printf '   %s\n' "$option" >>"$dir/smb.conf"
  done
}

ensure_unix_user() {
  if ! id -u "$SMB_USER" >/dev/null 2>&1; then
    useradd -M -r -s /usr/sbin/nologin "$SMB_USER" >/dev/null 2>&1 \
      || id -u "$SMB_USER" >/dev/null 2>&1 \
      || die "could not create Unix user $SMB_USER"
  fi
}

start_watchdog() {
  local dir="$1" watch="$2" self
  self="$(readlink -f "$0")"
  # Detached loop: when the watched process disappears, stop the instance.
  setsid bash -c '
    watch="$1"; script="$2"; dir="$3"
    while kill -0 "$watch" 2>/dev/null; do
      [[ -d "$dir" ]] || exit 0
      sleep 1
    done
    exec bash "$script" stop "$dir"
  ' samba-watchdog "$watch" "$self" "$dir" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watchdog.pid"
}

cmd_start() {
  local dir="$1" profile="${2:-default}" smbd smbpasswd port pid attempt i ok
  [[ $EUID -eq 0 ]] || die "must run as root (smbd has to switch to user $SMB_USER)"
  smbd="$(find_bin smbd)" || die "smbd not found (apt-get install samba)"
  smbpasswd="$(find_bin smbpasswd)" || die "smbpasswd not found (apt-get install samba)"
  case "$profile" in
    default | signing | smb2_10 | smb3_00 | smb3_02 | encrypt | encrypt_aes128ccm | encrypt_aes128gcm | encrypt_aes256ccm | encrypt_aes256gcm | guest | dfs | shares) ;;
    *) die "unknown profile '$profile'" ;;
  esac

  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd -P)"
  if [[ -f "$dir/pid/smbd.main.pid" ]] && kill -0 "$(cat "$dir/pid/smbd.main.pid")" 2>/dev/null; then
    die "an instance is already running in $dir (run: $0 stop $dir)"
  fi
  # smbd switches to $SMB_USER for share access, which must be able to traverse DIR.
  chmod 0755 "$dir"
  mkdir -p "$dir"/{private,state,lock,cache,pid,ncalrpc,binddns,usershares,log,share}
  chmod 0700 "$dir/private"
  rm -f "$dir/server.env"

  ensure_unix_user
  chown "$SMB_USER" "$dir/share"
  chmod 0777 "$dir/share"

  if [[ -n "${SAMBA_WATCH_PID:-}" ]]; then
    start_watchdog "$dir" "$SAMBA_WATCH_PID"
  fi

  if [[ -n "${SAMBA_ADDRESS:-}" ]]; then
    # A server of its own on another loopback address, on port 445 (DFS referrals carry no port).
    [[ "$SAMBA_ADDRESS" == 127.* && "$SAMBA_ADDRESS" != 127.0.0.1 ]] || die "SAMBA_ADDRESS must be a loopback address other than 127.0.0.1"
    port_open 445 && die "something already listens on $SAMBA_ADDRESS:445"
    if ! ip -o addr show dev lo | grep -qw "inet $SAMBA_ADDRESS/32"; then
      ip addr add "$SAMBA_ADDRESS/32" dev lo
      echo "$SAMBA_ADDRESS" >"$dir/address.added"
    fi
  fi

  ok=""
  for ((attempt = 1; attempt <= 5; attempt++)); do
    if [[ -n "${SAMBA_ADDRESS:-}" ]]; then
      port=445
    else
      port="$(pick_port)" || die "no free port found"
    fi
    write_conf "$dir" "$port" "$profile"
    if [[ ! -f "$dir/private/passdb.tdb" ]]; then
      printf '%s\n%s\n' "$SMB_PASSWORD" "$SMB_PASSWORD" \
        | "$smbpasswd" -c "$dir/smb.conf" -a -s "$SMB_USER" >"$dir/log/smbpasswd.log" 2>&1 \
        || die "smbpasswd failed: $(cat "$dir/log/smbpasswd.log")"
    fi
    # setsid: smbd leads its own session and process group, which stop kills as a whole.
    # (In a non-interactive shell the background child is not a group leader, so
    # setsid execs smbd directly and $! is smbd's pid.)
    setsid "$smbd" --foreground --no-process-group --configfile="$dir/smb.conf" \
      </dev/null >>"$dir/log/smbd.stdout" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid/smbd.main.pid"
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if port_open "$port"; then
        ok=1
        break
      fi
      sleep 0.1
    done
    if [[ -n "$ok" ]] && kill -0 "$pid" 2>/dev/null; then
      break
    fi
    ok=""
    kill_instance "$dir" "$pid" || true
    if ((i >= START_TIMEOUT * 10)); then
      break # timed out, not a port clash: do not retry
    fi
  done
  if [[ -z "$ok" ]]; then
    echo "samba-server.sh: smbd did not start; last log lines:" >&2
    tail -n 30 "$dir/log/log.smbd" "$dir/log/smbd.stdout" 2>/dev/null >&2 || true
    [[ -f "$dir/watchdog.pid" ]] && kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
    exit 1
  fi

  {
    echo "ADDRESS=${SAMBA_ADDRESS:-127.0.0.1}"
    echo "PORT=$port"
    echo "USER=$SMB_USER"
    echo "PASSWORD=$SMB_PASSWORD"
    echo "SHARE=share"
    echo "SHAREDIR=$dir/share"
    echo "PID=$pid"
    echo "CONF=$dir/smb.conf"
    echo "PROFILE=$profile"
    echo "USER_UID=$(id -u "$SMB_USER")"
    echo "USER_GID=$(id -g "$SMB_USER")"
  } >"$dir/server.env.tmp"
  mv "$dir/server.env.tmp" "$dir/server.env"
  cat "$dir/server.env"
}

cmd_stop() {
  local dir="$1" main="" rc=0
  [[ -d "$dir" ]] || die "no such directory: $dir"
  dir="$(cd "$dir" && pwd -P)"
  if [[ -f "$dir/pid/smbd.main.pid" ]]; then
    main="$(cat "$dir/pid/smbd.main.pid")"
  fi
  kill_instance "$dir" "$main" || rc=1
  # Only our own runtime markers go; logs, share contents and server.env stay.
  rm -f "$dir/pid/smbd.main.pid"
  if [[ -f "$dir/watchdog.pid" ]]; then
    local w
    w="$(cat "$dir/watchdog.pid")"
    # Do not kill ourselves when the watchdog is the one calling stop.
    if [[ "$w" != "$$" && "$w" != "$PPID" ]]; then
      kill "$w" 2>/dev/null || true
    fi
    rm -f "$dir/watchdog.pid"
  fi
  # The loopback address start added (SAMBA_ADDRESS), removed again.
  if [[ -f "$dir/address.added" ]]; then
    ip addr del "$(cat "$dir/address.added")/32" dev lo 2>/dev/null || true
    rm -f "$dir/address.added"
  fi
  return "$rc"
}

[[ $# -ge 2 ]] || usage
case "$1" in
  start)
    [[ $# -le 3 ]] || usage
    cmd_start "$2" "${3:-default}"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    cmd_stop "$2"
    ;;
  *) usage ;;
esac
