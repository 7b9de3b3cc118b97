#!/usr/bin/env bash
# The prepared GPU check (`make gpu-check`): on a CUDA machine, run the CUDA-only tests, the
# probe benchmark on the GPU, one benchmark entry and one notebook in the `full` profile,
# printing the wall time of each step; on a machine without CUDA, say so and exit 0.
#
#   make gpu-check                      # or: bash benchmarks/gpu_check.sh [python]
#
# Everything it writes goes to runs/gpu-check/ (ignored) and a throwaway model cache, so the
# checkout's figures/ and ~/.cache/cmim_lab stay untouched. Total on an H200: see README.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
OUT=runs/gpu-check
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing to check."
  exit 0
fi
mkdir -p "$OUT"
export CMIM_LAB_CACHE=${CMIM_LAB_CACHE:-$(mktemp -d)}
"$PY" -c "import torch; print('gpu-check:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)"
status=0
step() {  # step NAME COMMAND...: run it, print its wall time and exit status
  local name=$1; shift
  local start=$SECONDS
  echo; echo "=== $name: $*"
  "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc in $((SECONDS - start)) s" | tee -a "$OUT/times.txt"
  [ "$rc" = 0 ] || status=1
}
: > "$OUT/times.txt"
step cuda-tests "$PY" -m pytest -q -p no:cacheprovider -k "cuda or gpu" tests/test_probes.py tests/test_distributed.py
step probe-benchmark "$PY" benchmarks/probes.py --device cuda --out "$OUT/probes_benchmark.json"
step benchmark-entry "$PY" -m cmim_lab.cli benchmark --datasets fashion-mnist --methods cmim --seeds 0 \
    --reductions sum --epochs 10 --device cuda --out "$OUT/benchmark" --no-progress
step notebook-full "$PY" -m cmim_lab.cli notebooks --only 0 --profile full --device cuda --out "$OUT/notebooks"
echo; echo "gpu-check times:"; cat "$OUT/times.txt"
exit $status
