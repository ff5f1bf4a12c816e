#!/usr/bin/env bash
# Runs the whole test suite (unit + Samba integration tests) on a Debian machine with the .NET SDK.
#
#   scripts/test.sh [extra dotnet test arguments...]
#
# - installs, with apt-get (sudo if not root), every package named in scripts/test-programs.txt that is
#   not installed: the package of each program the tests start (packages samba, smbclient, tshark, iptables,
#   iproute2, pv, coreutils, util-linux, passwd, procps, mount, bash, the AD DC's samba-common-bin
#   (samba-tool), samba-ad-dc, samba-ad-provision, winbind, krb5-user, faketime, the mount tests' git, tar, fio
#   and dbench, and clang for the native CLI);
# - runs `dotnet test SmbLayer.slnx -c Release` with a TRX logger into artifacts/test-results;
# - sums the TRX counters and prints "N passed, N failed[, N skipped]" as the last line;
# - exits non-zero if dotnet test failed, any test failed, or no test ran.
# With CI=true, Samba integration tests fail instead of skipping when Samba is unusable.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"
RESULTS="$ROOT/artifacts/test-results"

log() { echo "test.sh: $*" >&2; }

have_tool() {
  # An absolute path (a glob allowed) names a file a package brings that no program shows: it must exist.
  if [[ "$1" == /* ]]; then
    compgen -G "$1" >/dev/null
    return
  fi
  command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] || [[ -x "/usr/bin/$1" ]] || [[ -x "/sbin/$1" ]]
}

# scripts/test-programs.txt lists every program the tests start with its Debian package.
MANIFEST="$ROOT/scripts/test-programs.txt"
manifest() { grep -vE '^[[:space:]]*(#|$)' "$MANIFEST" | awk '{ print $1, $2 }'; }

package_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Every listed package that is not installed, whether or not its program is already found elsewhere: the tests use
# the package's files too (samba-tool's Python modules, the DC's provisioning templates).
missing_packages() {
  local program package
  while read -r program package; do
    [[ "$package" == "-" ]] && continue # a precondition (the .NET SDK), not an apt package
    package_installed "$package" || echo "$package"
  done < <(manifest) | sort -u
}

install_packages() {
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "need root or sudo to install: $*"; return 1; }
    sudo=(sudo)
  fi
  log "installing $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

mapfile -t packages < <(missing_packages)
if ((${#packages[@]} > 0)); then
  install_packages "${packages[@]}" || log "installing ${packages[*]} failed"
fi
# Anything still missing is named here; the run fails (the tests that need it fail too).
programs_rc=0
while read -r program package; do
  if ! have_tool "$program"; then
    log "program '$program' (Debian package $package) is missing after the install step"
    programs_rc=1
  fi
done < <(manifest)

command -v dotnet >/dev/null 2>&1 || { log "dotnet (the .NET SDK) is not on PATH"; echo "0 passed, 0 failed"; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

rm -rf "$RESULTS"
mkdir -p "$RESULTS"

# The CLI tests run the CLI as it ships: the Native AOT binary for this machine
# (src/SmbLayer.Cli/SmbLayer.Cli.csproj), built the way ./smb builds it. SMB_CLI names it for them.
# If publishing fails the tests still run (against the built smb.dll) so the totals mean something,
# but the run fails; under CI=true ShippedCliTests fails too.
CLI_DIR="$ROOT/artifacts/cli"
publish_rc=0
rm -rf "$CLI_DIR"
log "publishing the smb CLI as it ships into $CLI_DIR"
# The runtime identifier is passed explicitly (--use-current-runtime is applied after the project's
# own properties are evaluated, too late for the conditions there).
rid="$(dotnet --info 2>/dev/null | awk '$1 == "RID:" { print $2; exit }')"
dotnet publish "$ROOT/src/SmbLayer.Cli/SmbLayer.Cli.csproj" -c Release -r "${rid:-linux-x64}" \
  -o "$CLI_DIR" --nologo -v q >"$RESULTS/publish-cli.log" 2>&1 || publish_rc=$?
if ((publish_rc == 0)) && [[ -x "$CLI_DIR/smb" ]]; then
  export SMB_CLI="$CLI_DIR/smb"
else
  cat "$RESULTS/publish-cli.log" >&2
  log "publishing the CLI failed (exit $publish_rc); CLI tests run the built smb.dll instead"
  publish_rc=1
fi
# The dotnet tool package (framework-dependent smb.dll); ShippedCliTests installs it with
# `dotnet tool install --add-source` and runs it.
TOOL_PACKAGES="$ROOT/artifacts/tool-package"
rm -rf "$TOOL_PACKAGES"
if dotnet pack "$ROOT/src/SmbLayer.Cli/SmbLayer.Cli.csproj" -c Release -o "$TOOL_PACKAGES" --nologo -v q \
    >"$RESULTS/pack-tool.log" 2>&1; then
  export SMB_TOOL_PACKAGES="$TOOL_PACKAGES"
else
  cat "$RESULTS/pack-tool.log" >&2
  log "packing the dotnet tool failed"
  publish_rc=1
fi

# Test projects run in parallel (MSBuild default); that is safe: every Samba fixture
# gets its own smbd on its own port and directory. The hang timeout aborts a stuck test
# host instead of letting the run hang.
dotnet_rc=0
dotnet test "$ROOT/SmbLayer.slnx" -c Release \
  --logger trx --results-directory "$RESULTS" \
  --blame-hang-timeout 5m --blame-hang-dump-type none \
  "$@" 2>&1 | tee "$RESULTS/dotnet-test.log" || dotnet_rc=$?
# With pipefail the pipeline status is dotnet's unless tee failed.

shopt -s nullglob
trx_files=("$RESULTS"/*.trx)
shopt -u nullglob

# Sum the <Counters .../> of every TRX file (grep/sed/awk only).
counter() { echo "$1" | sed -n "s/.* $2=\"\([0-9]*\)\".*/\1/p"; }
total=0 executed=0 passed=0 failed=0
for f in "${trx_files[@]}"; do
  counters="$(grep -o '<Counters [^>]*>' "$f" | head -n 1 || true)"
  if [[ -z "$counters" ]]; then
    log "no <Counters> in $f"
    dotnet_rc=1
    continue
  fi
  get() { counter "$counters" "$1"; }
  t="$(get total)" e="$(get executed)" p="$(get passed)"
  fl=$(( $(get failed) + $(get error) + $(get timeout) + $(get aborted) ))
  total=$((total + ${t:-0})) executed=$((executed + ${e:-0})) passed=$((passed + ${p:-0})) failed=$((failed + fl))
done
# xUnit skips are in total but not in executed (TRX reports them as NotExecuted).
skipped=$((total - executed))

# Two projects writing the same TRX name would silently lose results: detect it.
reported="$(grep -c '^ *Results File: ' "$RESULTS/dotnet-test.log" || true)"
if ((${reported:-0} > ${#trx_files[@]})); then
  log "dotnet test reported $reported result files but only ${#trx_files[@]} exist"
  dotnet_rc=1
fi

rc=0
if ((dotnet_rc != 0)); then
  log "dotnet test exited with $dotnet_rc"
  rc=1
fi
if ((failed > 0)); then
  rc=1
fi
if ((publish_rc != 0)); then
  rc=1
fi
if ((programs_rc != 0)); then
  rc=1
fi
if ((executed == 0)); then
  log "no test ran"
  rc=1
fi

if ((skipped > 0)); then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$rc"
