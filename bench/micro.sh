#!/usr/bin/env bash
# BenchmarkDotNet micro-benchmarks: codecs, signing, and the read path against a private Samba
# on 127.0.0.1 (needs root). Extra arguments go to BenchmarkDotNet, e.g.
#   bench/micro.sh --filter '*Codec*'
# Default: every benchmark. Results land in BenchmarkDotNet.Artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/SmbLayer.Benchmarks"
if [[ $# -eq 0 ]]; then
  set -- --filter '*'
fi
exec dotnet run -c Release -- "$@"
