#!/usr/bin/env bash
# SmbLayer's `smb` CLI against Samba's smbclient, same server, same run.
#
#   bench/run.sh                 # every case, 5 runs per client
#   BENCH_RUNS=3 BENCH_CASES="get_1g ls_10k" bench/run.sh
#
# Starts a private Samba (scripts/samba-server.sh, 127.0.0.1 only) whose state and share
# live on tmpfs (/dev/shm), so neither client ever waits for a disk: local files are on
# /dev/shm too. Each case runs the two clients alternately (ours, smbclient, ours, ...),
# BENCH_RUNS times each, as whole processes (start-up included), under /usr/bin/time.
# Prints, per case: median wall time of each, the ratio smbclient_time / our_time (> 1 means
# we are faster), and median CPU seconds (user+sys of the client process; per GiB for the
# bulk cases). Both clients use SMB 3.1.1 with the same signing setting (the server does
# not require signing, so neither signs unless the case asks for it). Must run as root.
#
# Environment: BENCH_RUNS (5), BENCH_CASES (all), SMB_BIN (our CLI; default: published
# into bench/.out by this script), BENCH_KEEP=1 keeps the scratch directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${BENCH_RUNS:-5}"
cases="${BENCH_CASES:-get_1g put_1g ls_10k put_small get_small get_signed get_encrypted}"
((runs >= 1 && runs <= 50)) || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "bench/run.sh must run as root (private smbd)" >&2; exit 2; }

smb_bin="${SMB_BIN:-}"
if [[ -z "$smb_bin" ]]; then
  echo "# publishing the smb CLI (Release, self-contained, composite ReadyToRun) into bench/.out" >&2
  rm -rf "$root/bench/.out"
  dotnet publish "$root/src/SmbLayer.Cli/SmbLayer.Cli.csproj" -c Release -r linux-x64 \
    -o "$root/bench/.out" -v q --nologo >&2
  smb_bin="$root/bench/.out/smb"
fi

scratch="$(mktemp -d /dev/shm/smblayer-bench.XXXXXX)"
server="$scratch/server"
local_dir="$scratch/local"
chmod 0755 "$scratch" # smbd serves the share as its test user, who must traverse this
mkdir -p "$server" "$local_dir"
cleanup() {
  bash "$root/scripts/samba-server.sh" stop "$server" >/dev/null 2>&1 || true
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$scratch"
}
trap cleanup EXIT

bash "$root/scripts/samba-server.sh" start "$server" default >"$scratch/server.out"
# shellcheck disable=SC1091
source "$server/server.env"
share_dir="$SHAREDIR"
base="smb://$USER@127.0.0.1:$PORT/$SHARE"
export SMB_PASSWORD="$PASSWORD"
smbc=(smbclient "//127.0.0.1/$SHARE" -p "$PORT" -U "$USER%$PASSWORD" -m SMB3 --client-protection=off)

# ---- data ----
echo "# preparing data on tmpfs" >&2
head -c $((1024 * 1024 * 1024)) /dev/urandom >"$local_dir/big.bin"
cp "$local_dir/big.bin" "$share_dir/big.bin"
mkdir -p "$share_dir/many" "$local_dir/small" "$share_dir/small"
(cd "$share_dir/many" && for ((i = 0; i < 10000; i++)); do : >"f$i.dat"; done)
head -c $((1000 * 4096)) /dev/urandom >"$scratch/small.pool"
for ((i = 0; i < 1000; i++)); do
  dd if="$scratch/small.pool" of="$local_dir/small/s$i.bin" bs=4096 skip="$i" count=1 status=none
done
cp "$local_dir/small/"* "$share_dir/small/"
rm -f "$scratch/small.pool"
chown -R "$USER_UID:$USER_GID" "$share_dir"

# ---- one timed run: prints "wall cpu" ----
timed() {
  local out="$scratch/time.out"
  if ! /usr/bin/time -f "%e %U %S" -o "$out" "$@" >/dev/null 2>"$scratch/cmd.err"; then
    echo "FAILED: $*" >&2
    cat "$scratch/cmd.err" >&2
    return 1
  fi
  awk 'END { printf "%s %.3f\n", $1, $2 + $3 }' "$out"
}

# Before each run: remove what the previous run left behind (not timed).
reset_outputs() {
  rm -rf "$scratch/out" "$share_dir/up" "$share_dir/upsmall"
  mkdir -p "$scratch/out"
  mkdir -m 0777 "$share_dir/up"
  chown "$USER_UID:$USER_GID" "$share_dir/up"
}

# Checks after the first run of each client (not timed).
verify() {
  local name="$1"
  case "$name" in
    get_1g | get_signed | get_encrypted) cmp -s "$local_dir/big.bin" "$scratch/out/big.bin" ;;
    put_1g) cmp -s "$local_dir/big.bin" "$share_dir/up/big.bin" ;;
    put_small) diff -rq "$local_dir/small" "$share_dir/up/small" >/dev/null ;;
    get_small) diff -rq "$share_dir/small" "$scratch/out/small" >/dev/null ;;
    ls_10k) [[ "$(wc -l <"$scratch/ls.out")" -ge 10000 ]] ;;
  esac
}

ours_cmd() {
  case "$1" in
    get_1g) echo "$smb_bin get $base/big.bin $scratch/out/big.bin" ;;
    get_signed) echo "$smb_bin --sign get $base/big.bin $scratch/out/big.bin" ;;
    get_encrypted) echo "$smb_bin --encrypt get $base/big.bin $scratch/out/big.bin" ;;
    put_1g) echo "$smb_bin put $local_dir/big.bin $base/up/big.bin" ;;
    ls_10k) echo "$smb_bin ls $base/many" ;;
    put_small) echo "$smb_bin put -r $local_dir/small $base/up/small" ;;
    get_small) echo "$smb_bin get -r $base/small $scratch/out/small" ;;
  esac
}

smbc_script() {
  case "$1" in
    get_1g | get_signed | get_encrypted) echo "get big.bin $scratch/out/big.bin" ;;
    put_1g) echo "put $local_dir/big.bin up/big.bin" ;;
    ls_10k) echo "ls many/*" ;;
    put_small) echo "prompt off; recurse on; lcd $local_dir; cd up; mput small" ;;
    get_small) echo "prompt off; recurse on; lcd $scratch/out; mget small" ;;
  esac
}

run_ours() {
  local cmd
  cmd="$(ours_cmd "$1")"
  if [[ "$1" == ls_10k ]]; then
    timed bash -c "exec $cmd >$scratch/ls.out"
  else
    # shellcheck disable=SC2086
    timed $cmd
  fi
}

run_smbc() {
  local extra=()
  [[ "$1" == get_signed ]] && extra=(--client-protection=sign)
  [[ "$1" == get_encrypted ]] && extra=(--client-protection=encrypt)
  if [[ "$1" == ls_10k ]]; then
    timed bash -c "exec \"\$@\" >$scratch/ls.out" _ "${smbc[@]}" "${extra[@]}" -c "$(smbc_script "$1")"
  else
    timed "${smbc[@]}" "${extra[@]}" -c "$(smbc_script "$1")"
  fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

gib_of() {
  case "$1" in
    get_1g | put_1g | get_signed | get_encrypted) echo 1 ;;
    put_small | get_small) echo "0.003815" ;; # 1000 x 4 KiB
    *) echo 0 ;;
  esac
}

results=()
for name in $cases; do
  echo "# $name: $runs runs each, alternating" >&2
  : >"$scratch/ours.txt"
  : >"$scratch/smbc.txt"
  for ((r = 1; r <= runs; r++)); do
    reset_outputs
    run_ours "$name" >>"$scratch/ours.txt"
    if ((r == 1)) && ! verify "$name"; then echo "VERIFY FAILED: ours $name" >&2; exit 1; fi
    reset_outputs
    run_smbc "$name" >>"$scratch/smbc.txt"
    if ((r == 1)) && ! verify "$name"; then echo "VERIFY FAILED: smbclient $name" >&2; exit 1; fi
  done
  ow="$(awk '{ print $1 }' "$scratch/ours.txt" | median)"
  sw="$(awk '{ print $1 }' "$scratch/smbc.txt" | median)"
  oc="$(awk '{ print $2 }' "$scratch/ours.txt" | median)"
  sc="$(awk '{ print $2 }' "$scratch/smbc.txt" | median)"
  gib="$(gib_of "$name")"
  results+=("$(awk -v n="$name" -v ow="$ow" -v sw="$sw" -v oc="$oc" -v sc="$sc" -v g="$gib" -v ours="$(tr '\n' ' ' <"$scratch/ours.txt")" -v smbc="$(tr '\n' ' ' <"$scratch/smbc.txt")" 'BEGIN {
    ratio = ow > 0 ? sw / ow : 0
    if (g >= 0.5) { ocg = sprintf("%.3f", oc / g); scg = sprintf("%.3f", sc / g) } else { ocg = "-"; scg = "-" }
    printf "%-14s %9.3f %9.3f %7.2f %8.3f %8.3f %9s %9s", n, ow, sw, ratio, oc, sc, ocg, scg
  }')")
  echo "# ${results[-1]}" >&2 # as it goes, so a later failure loses nothing
done

echo
echo "runs per client: $runs; wall and CPU (user+sys) are medians in seconds; ratio = smbclient / ours (> 1: ours faster)"
printf '%-14s %9s %9s %7s %8s %8s %9s %9s\n' case ours_s smbc_s ratio ours_cpu smbc_cpu ours_cpu/GiB smbc_cpu/GiB
for line in "${results[@]}"; do echo "$line"; done
