#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one run inside about 8 minutes: the CUDA variants of the tests,
# then the worlds', training's and a population's speed on the GPU. Each stage has its own time limit
# (seconds: STAGE_LIMIT, default 120) and writes its log to OUT (default runs/gpu_check), also when
# it is cut off; the exit status is 1 if any stage failed or ran out of time.
#
#     bash scripts/gpu_check.sh [OUT]
#
# The project's dependencies must be importable (pip install -e ".[dev]"); on a machine that cannot
# reach a package index, install them from wheels first (docs/design.md, "Speed", says how).
set -uo pipefail
out=${1:-${OUT:-runs/gpu_check}}
mkdir -p "$out"
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy PYTHONUNBUFFERED=1
python3 - <<'PY' || exit 2
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check.sh: torch sees no CUDA device here; run it on a machine with one")
print(f"gpu_check.sh: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PY
status=0
stage() {
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit} s): $*"
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ]; then echo "== $name: exit status $rc (124: out of time)"; status=1; fi
}
limit=${STAGE_LIMIT:-120}
stage cuda_tests "$limit" python3 -m pytest -q -rs -p no:cacheprovider -k cuda tests
stage bench_env "$limit" python3 scripts/bench.py env --device cuda --sizes 4096 65536 262144 --sync-sizes 16
stage bench_train "$limit" python3 scripts/bench.py train --device cuda --num-envs 1024 \
    --presets feedforward recurrent feedback dopamine --paths batched compiled
stage bench_population "$limit" python3 scripts/bench.py population --device cuda --seeds 4
exit $status
