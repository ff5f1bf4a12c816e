#!/usr/bin/env bash
# SmbLayer's `smb` CLI against Samba's smbclient, same server, same run; then the library in process.
#
#   bench/run.sh                 # every case, 9 runs per client
#   BENCH_RUNS=3 BENCH_CASES="get_1g ls_10k" bench/run.sh    # a quick look (not for BENCHMARKS.md)
#
# Starts a private Samba (scripts/samba-server.sh, 127.0.0.1 only) whose state and share live on
# tmpfs (/dev/shm), and every file either client reads or writes is on /dev/shm too, so neither ever
# waits for a disk. Each case first runs each client once untimed (the server's page cache, smbd's
# forks), then BENCH_RUNS timed runs of each, alternating (ours, smbclient, ours, ...), as whole
# processes (start-up included) under /usr/bin/time. Prints per case min/median/max wall seconds of
# each client, the ratio of the medians smbclient / ours (> 1: ours faster) with the min and max of
# the per-pair ratios, and median CPU seconds (user+sys of the client process; per GiB for the bulk
# cases). Both clients use SMB 3.1.1 with the same signing setting. Cases:
#   get_1g put_1g get_signed get_encrypted   one 1 GiB file
#   get_1g_memory  get_1g with SMB_ZERO_COPY=off (no splice: every byte through our memory)
#   ls_10k         a directory of 10,000 files
#   put_small get_small   1,000 files of 4 KiB, recursively
#   version        `smb --version` (the binary, and ./smb with its staleness check) against `smbclient --version`
#   lib            the library in process (bench/SmbLayer.Benchmarks transfer): 1 GiB read and written with
#                  1, 8 and 32 requests in flight, the read through splice and through memory
# Must run as root. Environment: BENCH_RUNS (9), BENCH_CASES (all), SMB_BIN (our CLI; default: the
# Native AOT binary published into bench/.out by this script), BENCH_KEEP=1 keeps the scratch directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${BENCH_RUNS:-9}"
cases="${BENCH_CASES:-version get_1g get_1g_memory put_1g ls_10k put_small get_small get_signed get_encrypted lib}"
((runs >= 1 && runs <= 50)) || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "bench/run.sh must run as root (private smbd)" >&2; exit 2; }
missing=()
[[ -x /usr/sbin/smbd ]] || missing+=(samba)
command -v smbclient >/dev/null || missing+=(smbclient)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]} > 0)); then
  echo "# installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

smb_bin="${SMB_BIN:-}"
if [[ -z "$smb_bin" ]]; then
  echo "# publishing the smb CLI (Release, Native AOT) into bench/.out" >&2
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
    get_1g | get_1g_memory | get_signed | get_encrypted) cmp -s "$local_dir/big.bin" "$scratch/out/big.bin" ;;
    put_1g) cmp -s "$local_dir/big.bin" "$share_dir/up/big.bin" ;;
    put_small) diff -rq "$local_dir/small" "$share_dir/up/small" >/dev/null ;;
    get_small) diff -rq "$share_dir/small" "$scratch/out/small" >/dev/null ;;
    ls_10k) [[ "$(wc -l <"$scratch/ls.out")" -ge 10000 ]] ;;
  esac
}

ours_cmd() {
  case "$1" in
    get_1g | get_1g_memory) echo "$smb_bin get $base/big.bin $scratch/out/big.bin" ;;
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
    get_1g | get_1g_memory | get_signed | get_encrypted) echo "get big.bin $scratch/out/big.bin" ;;
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
  elif [[ "$1" == get_1g_memory ]]; then
    # shellcheck disable=SC2086
    SMB_ZERO_COPY=off timed $cmd
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
    get_1g | get_1g_memory | put_1g | get_signed | get_encrypted) echo 1 ;;
    put_small | get_small) echo "0.003815" ;; # 1000 x 4 KiB
    *) echo 0 ;;
  esac
}

# min median max of the numbers on stdin
spread() { sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", v[1], m, v[NR] }'; }

# `smb --version`: the binary, and the ./smb launcher, against smbclient --version (milliseconds).
version_case() {
  local r f
  : >"$scratch/v_bin.txt"; : >"$scratch/v_launcher.txt"; : >"$scratch/v_smbc.txt"
  "$smb_bin" --version >/dev/null; "$root/smb" --version >/dev/null; smbclient --version >/dev/null
  for ((r = 1; r <= runs * 3; r++)); do
    for f in bin launcher smbc; do
      case $f in
        bin) set -- "$smb_bin" --version ;;
        launcher) set -- "$root/smb" --version ;;
        smbc) set -- smbclient --version ;;
      esac
      python3 -c 'import subprocess, sys, time
t = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); print("%.3f" % ((time.perf_counter() - t) * 1000))' "$@" >>"$scratch/v_$f.txt"
    done
  done
  echo "version (ms, $((runs * 3)) runs each, min median max): smb $(spread <"$scratch/v_bin.txt"); ./smb $(spread <"$scratch/v_launcher.txt"); smbclient $(spread <"$scratch/v_smbc.txt")"
}

lib_case() {
  echo "# lib: building bench/SmbLayer.Benchmarks" >&2
  dotnet build "$root/bench/SmbLayer.Benchmarks/SmbLayer.Benchmarks.csproj" -c Release -v q --nologo >&2
  echo "lib (in process, $runs runs each, interleaved): wall min median max, CPU s/GiB"
  dotnet "$root/bench/SmbLayer.Benchmarks/bin/Release/net10.0/SmbLayer.Benchmarks.dll" transfer \
    "smb://$USER@127.0.0.1:$PORT/$SHARE/big.bin" "$local_dir" "$runs"
  rm -f "$local_dir/lib-read.bin" "$share_dir/big.bin.lib-write"
}

results=()
extra=()
for name in $cases; do
  if [[ "$name" == version ]]; then
    extra+=("$(version_case)")
    continue
  fi
  if [[ "$name" == lib ]]; then
    extra+=("$(lib_case)")
    continue
  fi
  echo "# $name: one untimed run each, then $runs runs each, alternating" >&2
  reset_outputs; run_ours "$name" >/dev/null
  if ! verify "$name"; then echo "VERIFY FAILED: ours $name" >&2; exit 1; fi
  reset_outputs; run_smbc "$name" >/dev/null
  if ! verify "$name"; then echo "VERIFY FAILED: smbclient $name" >&2; exit 1; fi
  : >"$scratch/ours.txt"
  : >"$scratch/smbc.txt"
  for ((r = 1; r <= runs; r++)); do
    reset_outputs
    run_ours "$name" >>"$scratch/ours.txt"
    reset_outputs
    run_smbc "$name" >>"$scratch/smbc.txt"
  done
  read -r omin ow omax < <(awk '{ print $1 }' "$scratch/ours.txt" | spread)
  read -r smin sw smax < <(awk '{ print $1 }' "$scratch/smbc.txt" | spread)
  read -r rmin _ rmax < <(paste "$scratch/ours.txt" "$scratch/smbc.txt" | awk '{ print ($1 > 0 ? $3 / $1 : 0) }' | spread)
  oc="$(awk '{ print $2 }' "$scratch/ours.txt" | median)"
  sc="$(awk '{ print $2 }' "$scratch/smbc.txt" | median)"
  gib="$(gib_of "$name")"
  results+=("$(awk -v n="$name" -v omin="$omin" -v ow="$ow" -v omax="$omax" -v smin="$smin" -v sw="$sw" -v smax="$smax" \
    -v rmin="$rmin" -v rmax="$rmax" -v oc="$oc" -v sc="$sc" -v g="$gib" 'BEGIN {
    ratio = ow > 0 ? sw / ow : 0
    if (g >= 0.5) { ocg = sprintf("%.3f", oc / g); scg = sprintf("%.3f", sc / g) } else { ocg = "-"; scg = "-" }
    printf "%-14s %6.3f %6.3f %6.3f  %6.3f %6.3f %6.3f  %5.2f (%4.2f-%4.2f)  %6.3f %6.3f %7s %7s", n, omin, ow, omax, smin, sw, smax, ratio, rmin, rmax, oc, sc, ocg, scg
  }')")
  echo "# ${results[-1]}" >&2 # as it goes, so a later failure loses nothing
done

echo
echo "kernel $(uname -r), $(nproc) cores; smbclient $(smbclient --version | awk '{ print $2 }'); runs per client: $runs (alternating, after one untimed run each)"
echo "wall seconds min/median/max; ratio = median smbclient / median ours (> 1: ours faster), with the min-max of per-pair ratios; CPU = median user+sys seconds"
printf '%-14s %20s  %20s  %18s  %6s %6s %7s %7s\n' case "ours min/med/max" "smbclient min/med/max" "ratio (pairs)" ours_cpu smbc_cpu "o/GiB" "s/GiB"
for line in "${results[@]}"; do echo "$line"; done
for line in "${extra[@]}"; do echo; echo "$line"; done
