#!/usr/bin/env bash
# `smb mount` (FUSE) against `smb get` / `smb put` of the same file on the same throwaway Samba, in one run.
#
#   bench/mount.sh            # 256 MiB, 7 rounds
#   BENCH_RUNS=3 BENCH_MIB=64 bench/mount.sh
#
# Must run as root (mount(2)). Starts a private Samba (scripts/samba-server.sh, 127.0.0.1 only) whose share is
# on tmpfs (/dev/shm), mounts it with the smb CLI ($SMB_CLI, else the one ./smb publishes) on a FUSE device
# node made with mknod in a temporary directory (nothing under /dev is touched), and per round, alternating:
#   read   dd of the file through the mount into /dev/null, bs=1M    against  smb get URL /dev/null
#   write  dd of a tmpfs file into the mount, bs=1M, conv=fsync      against  smb put FILE URL
#   ls     ls -l of a directory of 10,000 files through the mount    against  smb ls URL
# Each open through the mount starts cold (no FOPEN_KEEP_CACHE: the kernel drops the file's pages at open).
# Prints per case min/median/max seconds of each and the ratio of the medians (CLI / mount; 1 is parity,
# the issue's goal for read and write is 0.8 or more). Unmounts, stops the server and deletes everything at
# the end, also on failure or Ctrl+C.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${BENCH_RUNS:-7}"
mib="${BENCH_MIB:-256}"
[[ $EUID -eq 0 ]] || { echo "bench/mount.sh: must run as root (mount(2))" >&2; exit 2; }

work="$(mktemp -d /dev/shm/smb-bench-mount.XXXXXX)"
chmod 0755 "$work" # smbd serves as the share user, below it
device_dir="$(mktemp -d /tmp/smb-bench-fuse.XXXXXX)" # /dev/shm is nodev: the device node lives elsewhere
cleanup() {
  if grep -q " $work/mnt " /proc/mounts 2>/dev/null; then umount -l "$work/mnt" || true; fi
  bash "$root/scripts/samba-server.sh" stop "$work/samba" >/dev/null 2>&1 || true
  rm -rf "$work" "$device_dir"
}
trap cleanup EXIT INT TERM

smb="${SMB_CLI:-}"
if [[ -z "$smb" ]]; then
  "$root/smb" --version >/dev/null # publishes artifacts/smb/smb when it is missing or stale
  smb="$root/artifacts/smb/smb"
fi

bash "$root/scripts/samba-server.sh" start "$work/samba" default >/dev/null
# shellcheck disable=SC1091
. "$work/samba/server.env"
export SMB_PASSWORD="$PASSWORD"
url="smb://$USER@127.0.0.1:$PORT/$SHARE"

head -c "${mib}M" /dev/urandom >"$SHAREDIR/big.bin"
head -c "${mib}M" /dev/urandom >"$work/src.bin"
mkdir -p "$SHAREDIR/many"
for i in $(seq -w 1 10000); do : >"$SHAREDIR/many/f$i"; done
chown -R "$USER" "$SHAREDIR"

mknod "$device_dir/fuse" c 10 229
mkdir "$work/mnt"
SMB_FUSE_DEVICE="$device_dir/fuse" "$smb" mount --background "$url/" "$work/mnt" >/dev/null

now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.6f", a - b }'; }
declare -A times
record() { times[$1]+="$2 "; }

for round in $(seq 1 "$runs"); do
  t=$(now); dd if="$work/mnt/big.bin" of=/dev/null bs=1M status=none; record read_mount "$(elapsed "$t")"
  t=$(now); "$smb" get "$url/big.bin" /dev/null; record read_cli "$(elapsed "$t")"
  t=$(now); dd if="$work/src.bin" of="$work/mnt/w.bin" bs=1M conv=fsync status=none; record write_mount "$(elapsed "$t")"
  t=$(now); "$smb" put "$work/src.bin" "$url/w2.bin"; record write_cli "$(elapsed "$t")"
  t=$(now); ls -l "$work/mnt/many" >/dev/null; record ls_mount "$(elapsed "$t")"
  t=$(now); "$smb" ls "$url/many" >/dev/null; record ls_cli "$(elapsed "$t")"
done

stats() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.3f %.3f %.3f", a[1], a[int((NR+1)/2)], a[NR]}'; }
echo "smb mount vs smb get/put, ${mib} MiB, $runs rounds (seconds: min median max)"
for case in read write ls; do
  read -r mmin mmed mmax <<<"$(stats "${times[${case}_mount]}")"
  read -r cmin cmed cmax <<<"$(stats "${times[${case}_cli]}")"
  printf '%-6s mount %s %s %s   cli %s %s %s   ratio cli/mount %.2f\n' "$case" "$mmin" "$mmed" "$mmax" "$cmin" "$cmed" "$cmax" \
    "$(awk -v c="$cmed" -v m="$mmed" 'BEGIN { print c / m }')"
done
