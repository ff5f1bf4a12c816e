#!/usr/bin/env bash
# The long soak (issue 16): many clients, each with its own connection through a fault proxy, run a mixed workload
# (write, read back and compare, list, stat, delete) in hard mode against a private Samba, while a fault hits every
# few seconds (a reset of every connection, a black-hole, the server down, every serving smbd terminated). The suite
# runs the same test for 60 s (tests/SmbLayer.IntegrationTests/Faults/SoakTests.cs); this runs it as long as asked.
#
#   bench/soak.sh [SECONDS=600] [CLIENTS=64] [FAULT_EVERY_SECONDS=20] [SEED]
#
# Prints the test's MEASURE lines: the faults, operations and documented errors, client memory every 5 s, and what
# the server still held afterwards. Needs what scripts/test.sh installs (Samba, tdb-tools, iproute2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SMBLAYER_SOAK_SECONDS="${1:-600}" SMBLAYER_SOAK_CLIENTS="${2:-64}" SMBLAYER_SOAK_FAULT_SECONDS="${3:-20}"
[[ -n "${4:-}" ]] && export SMBLAYER_SOAK_SEED="$4"
export CI=true # a Samba that cannot start fails the run instead of skipping it
dotnet build tests/SmbLayer.IntegrationTests -c Release -nologo -v q >/dev/null
dotnet test tests/SmbLayer.IntegrationTests -c Release --no-build --filter "FullyQualifiedName~SoakTests" \
  --logger "console;verbosity=normal" | grep -E "MEASURE soak|^\s+(Passed|Failed) |Error Message" -A3
