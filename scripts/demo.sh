#!/usr/bin/env bash
# The main job, end to end: build the `smb` CLI, start a throwaway Samba on a loopback
# port, upload a small sample tree, list it, download it back and verify it byte for byte.
# Everything it starts it stops again; nothing outside a temporary folder is touched.
#
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# What a fresh Debian machine with the .NET SDK lacks: Samba, and clang to link the Native AOT smb.
missing=()
command -v smbd >/dev/null 2>&1 || [ -x /usr/sbin/smbd ] || missing+=(samba)
command -v clang >/dev/null 2>&1 || missing+=(clang)
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing ${missing[*]} (apt-get)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "Building the native smb CLI (Release, Native AOT; a minute or two the first time)"
./smb --version

work=$(mktemp -d /tmp/smblayer-demo.XXXXXX)
chmod 0755 "$work"   # smbd serves the share as the test user, who must be able to reach it
cleanup() {
  bash scripts/samba-server.sh stop "$work/samba" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "Starting a throwaway Samba on 127.0.0.1"
bash scripts/samba-server.sh start "$work/samba" default > "$work/server.env"
# shellcheck disable=SC1091
. "$work/server.env"
echo "smbd pid $PID listening on 127.0.0.1:$PORT, share '$SHARE' for user '$USER'"
export SMB_PASSWORD="$PASSWORD"
base="smb://$USER@127.0.0.1:$PORT/$SHARE"

say "Making a sample tree"
src="$work/sample"
mkdir -p "$src/docs/notes" "$src/data"
echo "Hello from SmbLayer" > "$src/README.txt"
printf 'Grüße aus 日本\n' > "$src/docs/Grüße 日本 ü.txt"
seq 1 2000 > "$src/docs/notes/numbers.txt"
head -c 5000000 /dev/urandom > "$src/data/random.bin"
(cd "$src" && find . -type f | sort | while read -r f; do printf '%10d  %s\n' "$(stat -c %s "$f")" "${f#./}"; done)

say "Uploading it"
run ./smb mkdir "$base/demo"
(cd "$src" && find . -mindepth 1 -type d | sort) | while read -r d; do
  run ./smb mkdir "$base/demo/${d#./}"
done
(cd "$src" && find . -type f | sort) | while read -r f; do
  run ./smb put "$src/${f#./}" "$base/demo/${f#./}"
done

say "Listing it"
run ./smb ls "$base/demo"
run ./smb ls "$base/demo/docs"
run ./smb stat "$base/demo/data/random.bin"

say "Downloading it back"
dst="$work/back"
(cd "$src" && find . -type f | sort) | while read -r f; do
  mkdir -p "$(dirname "$dst/${f#./}")"
  run ./smb get "$base/demo/${f#./}" "$dst/${f#./}"
done

say "Verifying"
if diff -r "$src" "$dst"; then
  echo "OK: every file came back byte for byte ($(find "$src" -type f | wc -l) files)"
else
  echo "MISMATCH between the uploaded and the downloaded tree" >&2
  exit 1
fi

say "A transfer that survives a connection reset"
head -c 134217728 /dev/urandom > "$SHAREDIR/big.bin"
chmod 0644 "$SHAREDIR/big.bin"
want=$(sha256sum < "$SHAREDIR/big.bin" | cut -d' ' -f1)
echo "128 MiB on the server; reading it with --hard at 32 MB/s, and killing the server's connection process 2 s in"
./smb --hard -v cat "$base/big.bin" 2> "$work/cat.log" | { command -v pv >/dev/null && pv -q -L 32M || cat; } > "$work/big.bin" &
cat_pid=$!
sleep 2
victims=$(ss -tnpH state established sport = ":$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | grep -vx "$PID" || true)
for p in $victims; do
  echo "\$ kill -TERM $p   # the smbd serving our connection"
  kill -TERM "$p" || true
done
wait "$cat_pid"
grep -E "changing from|restored|re-established" "$work/cat.log" | sed 's/^/  /'
got=$(sha256sum < "$work/big.bin" | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
  echo "OK: the transfer went on over a new connection and the 128 MiB arrived byte for byte"
else
  echo "MISMATCH after the reset" >&2
  exit 1
fi
