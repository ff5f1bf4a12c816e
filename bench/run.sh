#!/usr/bin/env bash
# SmbLayer's `smb` CLI against Samba's smbclient, same server, same run; then the library in process.
# With --baseline REV: the same, with the CLI (and the library benchmark) of git revision REV as a third
# client, to see what a refactoring did to speed.
#
#   bench/run.sh                 # every case, 9 runs per client
#   BENCH_RUNS=3 BENCH_CASES="get_1g ls_10k" bench/run.sh    # a quick look (not for BENCHMARKS.md)
#   bench/run.sh ls_10k put_small                            # cases as arguments (instead of BENCH_CASES)
#   bench/run.sh --baseline main~5 [CASE...]                 # before/after: REV's CLI against this tree's
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
# Only the data the chosen cases use is made (the 1 GiB file, the 10,000 entries, the 1,000 small files).
#
# --baseline REV (any git revision: main~5, a commit id, a branch): checks REV out into a temporary
# `git worktree` (under $TMPDIR or /tmp; removed at the end, also on failure or Ctrl+C) and publishes its
# CLI there with the same command as this tree's (dotnet publish -c Release -r RID, Native AOT where REV's
# project says so; RID from `dotnet --info`, as ./smb and scripts/test.sh do; clang links it), and for
# the lib case builds REV's own bench/SmbLayer.Benchmarks (so a change to that harness shows up too).
# "current" is this tree as it is on disk, uncommitted edits included. Then, per case, against the same
# server: one untimed run of each of baseline, current and smbclient (each checked, as above), and
# BENCH_RUNS rounds of baseline, current, smbclient (baseline and current swap places every other round,
# so neither always runs right after the other); smbclient stays in so the machine's noise band is in
# view. The lib case runs each harness once per round (RUNS=1: its own untimed warm-up, then the nine
# configurations once), with an smbclient get of the 1 GiB file per round as the noise reference; the
# version case times the two binaries and smbclient --version (not the ./smb launcher). Prints per case
# min/median/max wall seconds of each of the three, median CPU of baseline and current, and
# cur/base = current's wall / baseline's wall of the same round: the median of these per-pair ratios
# and their min-max (> 1: current slower). The verdict is deliberately strict:
#   "slower beyond noise"  only when current's fastest run is slower than baseline's slowest (cur min > base max)
#   "faster beyond noise"  only when current's slowest run is faster than baseline's fastest (cur max < base min)
#   "within noise"         otherwise, whatever the median ratio says.
# With no real difference, each "beyond noise" comes up by chance with probability 1/C(2n,n) for n runs
# each (1/6 at n=2, 1/252 at n=5, 1/48620 at the default 9), so below 5 runs each the row says "no verdict"
# and shows only what the ranges did. A slowdown smaller than the noise band shows as a median ratio above
# 1 with "within noise": read it with smbclient's spread beside it. The version case has 3 x BENCH_RUNS
# runs; the lib case BENCH_RUNS.
#
# Must run as root. Environment: BENCH_RUNS (9; 1..50), BENCH_CASES (all; arguments override it), SMB_BIN
# (our CLI, the current one with --baseline; default: the Native AOT binary published into bench/.out by
# this script), BENCH_KEEP=1 keeps the scratch directory (the baseline's worktree is removed regardless).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
all_cases="version get_1g get_1g_memory put_1g ls_10k put_small get_small get_signed get_encrypted lib"
usage() { echo "usage: bench/run.sh [--baseline REV] [CASE...]   (cases: $all_cases)" >&2; exit 2; }
baseline_rev=""
arg_cases=()
while (($# > 0)); do
  case "$1" in
    --baseline) (($# >= 2)) && [[ -n "$2" ]] || usage; baseline_rev="$2"; shift 2 ;;
    --baseline=?*) baseline_rev="${1#--baseline=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) arg_cases+=("$1"); shift ;;
  esac
done
runs="${BENCH_RUNS:-9}"
cases="${BENCH_CASES:-$all_cases}"
((${#arg_cases[@]} == 0)) || cases="${arg_cases[*]}"
[[ "$runs" =~ ^[0-9]+$ ]] && ((runs >= 1 && runs <= 50)) || { echo "BENCH_RUNS must be 1..50" >&2; exit 2; }
for name in $cases; do
  [[ " $all_cases " == *" $name "* ]] || { echo "unknown case: $name" >&2; usage; }
done
wants() { local c; for c in "$@"; do [[ " $cases " == *" $c "* ]] && return 0; done; return 1; }
base_commit=""
if [[ -n "$baseline_rev" ]]; then
  base_commit="$(git -C "$root" rev-parse --verify --quiet "$baseline_rev^{commit}")" ||
    { echo "--baseline: not a git revision here: $baseline_rev" >&2; exit 2; }
fi
[[ $EUID -eq 0 ]] || { echo "bench/run.sh must run as root (private smbd)" >&2; exit 2; }
missing=()
[[ -x /usr/sbin/smbd ]] || missing+=(samba)
# Native AOT links with clang: needed whenever this script publishes a CLI.
if [[ -z "${SMB_BIN:-}" || -n "$base_commit" ]] && ! command -v clang >/dev/null; then missing+=(clang); fi
command -v smbclient >/dev/null || missing+=(smbclient)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]} > 0)); then
  echo "# installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

scratch=""
base_tmp=""
base_admin=""
cleanup() {
  if [[ -n "$scratch" ]]; then
    bash "$root/scripts/samba-server.sh" stop "$scratch/server" >/dev/null 2>&1 || true
    [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$scratch"
  fi
  if [[ -n "$base_tmp" ]]; then
    # Only our own worktree: remove it, or failing that its directory and its entry in the repository.
    if [[ -d "$base_tmp/rev" ]] && ! git -C "$root" worktree remove --force "$base_tmp/rev" >/dev/null 2>&1; then
      rm -rf "$base_tmp/rev"
      if [[ "$base_admin" == */worktrees/rev* && -d "$base_admin" ]]; then rm -rf "$base_admin"; fi
    fi
    rm -rf "$base_tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The CLI as it ships: Native AOT for this machine's runtime identifier (as ./smb and scripts/test.sh).
rid="$(dotnet --info 2>/dev/null | awk '$1 == "RID:" { print $2; exit }')"
rid="${rid:-linux-x64}"
publish_cli() { # SOURCE_ROOT OUT_DIR
  dotnet publish "$1/src/SmbLayer.Cli/SmbLayer.Cli.csproj" -c Release -r "$rid" -o "$2" -v q --nologo >&2
}

smb_bin="${SMB_BIN:-}"
if [[ -z "$smb_bin" ]]; then
  echo "# publishing the smb CLI (Release, Native AOT, $rid) into bench/.out" >&2
  rm -rf "$root/bench/.out"
  publish_cli "$root" "$root/bench/.out"
  smb_bin="$root/bench/.out/smb"
fi

base_bin=""
base_lib_dll=""
cur_lib_dll="$root/bench/SmbLayer.Benchmarks/bin/Release/net10.0/SmbLayer.Benchmarks.dll"
if [[ -n "$base_commit" ]]; then
  base_tmp="$(mktemp -d "${TMPDIR:-/tmp}/smblayer-bench-baseline.XXXXXX")"
  echo "# baseline: $baseline_rev = $(git -C "$root" log -1 --format='%h %s' "$base_commit" | cut -c1-100)" >&2
  # (Not named src: Directory.Build.props makes warnings errors in any project whose path has /src/.)
  git -C "$root" worktree add --detach --quiet "$base_tmp/rev" "$base_commit" >&2
  base_admin="$(git -C "$base_tmp/rev" rev-parse --absolute-git-dir)"
  echo "# publishing the baseline's smb CLI (Release, $rid) into $base_tmp/cli" >&2
  publish_cli "$base_tmp/rev" "$base_tmp/cli"
  base_bin="$base_tmp/cli/smb"
  [[ -x "$base_bin" ]] || { echo "the baseline's publish made no $base_bin" >&2; exit 1; }
  if wants lib; then
    if ! grep -qs '"transfer"' "$base_tmp/rev/bench/SmbLayer.Benchmarks/Program.cs"; then
      echo "the baseline has no library benchmark with a transfer command (bench/SmbLayer.Benchmarks): drop the lib case" >&2
      exit 2
    fi
    echo "# building the baseline's bench/SmbLayer.Benchmarks and the current one" >&2
    dotnet build "$base_tmp/rev/bench/SmbLayer.Benchmarks/SmbLayer.Benchmarks.csproj" -c Release \
      -o "$base_tmp/bench" -v q --nologo >&2
    base_lib_dll="$base_tmp/bench/SmbLayer.Benchmarks.dll"
    dotnet build "$root/bench/SmbLayer.Benchmarks/SmbLayer.Benchmarks.csproj" -c Release -v q --nologo >&2
  fi
fi

scratch="$(mktemp -d /dev/shm/smblayer-bench.XXXXXX)"
server="$scratch/server"
local_dir="$scratch/local"
chmod 0755 "$scratch" # smbd serves the share as its test user, who must traverse this
mkdir -p "$server" "$local_dir"

bash "$root/scripts/samba-server.sh" start "$server" default >"$scratch/server.out"
# shellcheck disable=SC1091
source "$server/server.env"
share_dir="$SHAREDIR"
base="smb://$USER@127.0.0.1:$PORT/$SHARE"
export SMB_PASSWORD="$PASSWORD"
smbc=(smbclient "//127.0.0.1/$SHARE" -p "$PORT" -U "$USER%$PASSWORD" -m SMB3 --client-protection=off)

# ---- data ----
echo "# preparing data on tmpfs" >&2
mkdir -p "$share_dir/many" "$local_dir/small" "$share_dir/small"
if wants get_1g get_1g_memory put_1g get_signed get_encrypted lib; then
  head -c $((1024 * 1024 * 1024)) /dev/urandom >"$local_dir/big.bin"
  cp "$local_dir/big.bin" "$share_dir/big.bin"
fi
if wants ls_10k; then
  (cd "$share_dir/many" && for ((i = 0; i < 10000; i++)); do : >"f$i.dat"; done)
fi
if wants put_small get_small; then
  head -c $((1000 * 4096)) /dev/urandom >"$scratch/small.pool"
  for ((i = 0; i < 1000; i++)); do
    dd if="$scratch/small.pool" of="$local_dir/small/s$i.bin" bs=4096 skip="$i" count=1 status=none
  done
  cp "$local_dir/small/"* "$share_dir/small/"
  rm -f "$scratch/small.pool"
fi
chown -R "$USER_UID:$USER_GID" "$share_dir"

# ---- one timed run: prints "wall cpu" ----
# (With --baseline the wall time is bash's $EPOCHREALTIME around it, in microseconds: /usr/bin/time's
# %e has 10 ms steps, a tenth of ls_10k. The same /usr/bin/time start-up is in all three clients' runs.)
timed() {
  local out="$scratch/time.out" t0 t1
  t0="${EPOCHREALTIME/,/.}"
  if ! /usr/bin/time -f "%e %U %S" -o "$out" "$@" >/dev/null 2>"$scratch/cmd.err"; then
    echo "FAILED: $*" >&2
    cat "$scratch/cmd.err" >&2
    return 1
  fi
  t1="${EPOCHREALTIME/,/.}"
  if [[ -n "$base_commit" ]]; then
    awk -v t0="$t0" -v t1="$t1" 'END { printf "%.4f %.3f\n", t1 - t0, $2 + $3 }' "$out"
  else
    awk 'END { printf "%s %.3f\n", $1, $2 + $3 }' "$out"
  fi
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

# ---- --baseline: REV's CLI and this tree's, interleaved with smbclient ----

# Runs one client of the three: base | cur (our CLI, REV's or this tree's) | smbc.
run_who() {
  case "$1" in
    base) local smb_bin="$base_bin"; run_ours "$2" ;;
    cur) run_ours "$2" ;;
    smbc) run_smbc "$2" ;;
  esac
}

# The order of a round: baseline and current swap places every other round; smbclient last.
round_order() { if (($1 % 2)); then echo base cur smbc; else echo cur base smbc; fi; }

# BASE_FILE CUR_FILE (first column: wall) -> "rmin rmed rmax verdict n" (verdict as one word: slower|faster|within;
# n = runs of each)
compare() {
  local bmin bmax cmin cmax rmin rmed rmax
  read -r bmin _ bmax < <(awk '{ print $1 }' "$1" | spread)
  read -r cmin _ cmax < <(awk '{ print $1 }' "$2" | spread)
  read -r rmin rmed rmax < <(paste <(awk '{ print $1 }' "$1") <(awk '{ print $1 }' "$2") |
    awk '{ print ($1 > 0 ? $2 / $1 : 0) }' | spread)
  awk -v bmin="$bmin" -v bmax="$bmax" -v cmin="$cmin" -v cmax="$cmax" -v a="$rmin" -v m="$rmed" -v b="$rmax" 'BEGIN {
    v = (cmin > bmax) ? "slower" : (cmax < bmin) ? "faster" : "within"
    printf "%.2f %.2f %.2f %s ", a, m, b, v }'
  wc -l <"$1"
}
# VERDICT N: below 5 runs each the ranges are too short for min/max to separate only by a real change
# (with none, either "beyond noise" comes up with probability 2/C(2n,n): 1 at n=1, 1/3 at n=2, 1/126 at n=5).
verdict_text() {
  local t
  case "$1" in slower) t="slower beyond noise" ;; faster) t="faster beyond noise" ;; *) t="within noise" ;; esac
  if (($2 >= 5)); then echo "$t"; else echo "no verdict ($2 runs < 5; ranges: $t)"; fi
}

# One table row: NAME BASE_FILE CUR_FILE SMBC_FILE (columns: wall [cpu]); CPU per GiB for the bulk cases.
baseline_row() {
  local n="$1" b c s rmin rmed rmax v k bc cc gib
  b="$(awk '{ print $1 }' "$2" | spread)"
  c="$(awk '{ print $1 }' "$3" | spread)"
  if [[ -n "$4" ]]; then s="$(awk '{ print $1 }' "$4" | spread)"; else s="- - -"; fi
  read -r rmin rmed rmax v k < <(compare "$2" "$3")
  bc="$(awk '{ print $2 }' "$2" | median)"
  cc="$(awk '{ print $2 }' "$3" | median)"
  gib="$(gib_of "$n")"
  if [[ "$gib" == 1 ]]; then bc="$(awk -v x="$bc" 'BEGIN { printf "%.3f", x }')"; cc="$(awk -v x="$cc" 'BEGIN { printf "%.3f", x }')"; fi
  # shellcheck disable=SC2086
  printf '%-22s %6.3f %6.3f %6.3f  %6.3f %6.3f %6.3f  %6s %6s %6s  %5.2f (%4.2f-%4.2f)  %7s %7s  %s\n' \
    "$n" $b $c $s "$rmed" "$rmin" "$rmax" "$bc" "$cc" "$(verdict_text "$v" "$k")"
}

baseline_version_case() {
  local r f
  for f in base cur smbc; do : >"$scratch/v_$f.txt"; done
  "$base_bin" --version >/dev/null; "$smb_bin" --version >/dev/null; smbclient --version >/dev/null
  for ((r = 1; r <= runs * 3; r++)); do
    for f in $(round_order "$r"); do
      case $f in
        base) set -- "$base_bin" --version ;;
        cur) set -- "$smb_bin" --version ;;
        smbc) set -- smbclient --version ;;
      esac
      python3 -c 'import subprocess, sys, time
t = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); print("%.3f" % ((time.perf_counter() - t) * 1000))' "$@" >>"$scratch/v_$f.txt"
    done
  done
  local rmin rmed rmax v k
  read -r rmin rmed rmax v k < <(compare "$scratch/v_base.txt" "$scratch/v_cur.txt")
  echo "version (ms, $((runs * 3)) runs each, min median max): baseline $(spread <"$scratch/v_base.txt"); current $(spread <"$scratch/v_cur.txt"); smbclient $(spread <"$scratch/v_smbc.txt"); cur/base $rmed ($rmin-$rmax): $(verdict_text "$v" "$k")"
}

# lib: each harness once per round (RUNS=1), an smbclient get of the 1 GiB file between as the noise reference.
baseline_lib_case() {
  local url="smb://$USER@127.0.0.1:$PORT/$SHARE/big.bin" r f dll name wall cpu
  rm -f "$scratch"/lib_*.txt
  : >"$scratch/lib_names.txt"
  : >"$scratch/lib_smbc.txt"
  for ((r = 1; r <= runs; r++)); do
    echo "# lib: round $r of $runs" >&2
    for f in $(round_order "$r"); do
      if [[ $f == smbc ]]; then
        reset_outputs; run_smbc get_1g >>"$scratch/lib_smbc.txt"
        continue
      fi
      dll="$cur_lib_dll"; [[ $f == base ]] && dll="$base_lib_dll"
      dotnet "$dll" transfer "$url" "$local_dir" 1 >"$scratch/lib.out"
      [[ $f == base || -s "$scratch/lib_names.txt" ]] || awk '{ print $1 }' "$scratch/lib.out" >"$scratch/lib_names.txt"
      while read -r name wall _ _ cpu; do
        echo "$wall $cpu" >>"$scratch/lib_${f}_$name.txt"
      done <"$scratch/lib.out"
      rm -f "$local_dir/lib-read.bin" "$share_dir/big.bin.lib-write"
    done
  done
  while read -r name; do # in the current harness's order
    if [[ -f "$scratch/lib_base_$name.txt" ]]; then
      baseline_row "$name" "$scratch/lib_base_$name.txt" "$scratch/lib_cur_$name.txt" ""
    else
      echo "$name: not in the baseline's harness"
    fi
  done <"$scratch/lib_names.txt"
  echo "(lib rows: CPU is seconds per GiB; smbclient get of the same 1 GiB file in the same rounds, the noise reference: $(awk '{ print $1 }' "$scratch/lib_smbc.txt" | spread))"
}

baseline_main() {
  local name r f rows=() extra=() cur_desc
  cur_desc="$(git -C "$root" log -1 --format=%h)"
  [[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ]] || cur_desc+=" + uncommitted changes"
  [[ -z "${SMB_BIN:-}" ]] || cur_desc="SMB_BIN=$SMB_BIN"
  for name in $cases; do
    if [[ "$name" == version ]]; then
      extra+=("$(baseline_version_case)")
      continue
    fi
    if [[ "$name" == lib ]]; then
      extra+=("$(baseline_lib_case)")
      continue
    fi
    echo "# $name: one untimed run each (baseline, current, smbclient), then $runs rounds" >&2
    for f in base cur smbc; do
      reset_outputs; run_who "$f" "$name" >/dev/null
      if ! verify "$name"; then echo "VERIFY FAILED: $f $name" >&2; exit 1; fi
      : >"$scratch/$f.txt"
    done
    for ((r = 1; r <= runs; r++)); do
      for f in $(round_order "$r"); do
        reset_outputs
        run_who "$f" "$name" >>"$scratch/$f.txt"
      done
    done
    rows+=("$(baseline_row "$name" "$scratch/base.txt" "$scratch/cur.txt" "$scratch/smbc.txt")")
    echo "# ${rows[-1]}" >&2 # as it goes, so a later failure loses nothing
  done

  echo
  echo "baseline: $baseline_rev = $(git -C "$root" log -1 --format='%h %s' "$base_commit" | cut -c1-90)"
  echo "current:  $cur_desc"
  echo "kernel $(uname -r), $(nproc) cores; smbclient $(smbclient --version | awk '{ print $2 }'); rounds: $runs of baseline, current, smbclient (baseline and current swapping places each round, after one untimed run each)"
  echo "wall seconds min/median/max; cur/base = current / baseline wall of the same round (> 1: current slower): median of the pairs (min-max);"
  echo "CPU = median user+sys seconds (per GiB for the 1 GiB cases); verdict (from 5 runs each): \"slower beyond noise\" only if current min > baseline max, \"faster beyond noise\" only if current max < baseline min"
  if ((${#rows[@]} > 0)) || [[ " $cases " == *" lib "* ]]; then
    printf '%-22s %20s  %20s  %20s  %17s  %7s %7s  %s\n' case "baseline min/med/max" "current min/med/max" "smbclient min/med/max" "cur/base (pairs)" base_cpu cur_cpu verdict
  fi
  for line in "${rows[@]}"; do echo "$line"; done
  for line in "${extra[@]}"; do echo; echo "$line"; done
}

if [[ -n "$base_commit" ]]; then
  baseline_main
  exit 0
fi

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
