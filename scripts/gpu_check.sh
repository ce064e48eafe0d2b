#!/usr/bin/env bash
# The GPU check in one command: tests, parity report and step benchmarks on the GPU (or their
# CPU form where there is none), written under docs/gpu-check/. Options and outputs:
# scripts/gpu_check.sh --help. The Python that runs it: $PYTHON, else python3.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
