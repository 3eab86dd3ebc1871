#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one prepared run of about 9 minutes (issue 41), most useful first:
#   1 cuda_tests     the CUDA tests (no host sync in a step, the captured world step, --cuda-graph, the envs)
#   2 world          the world alone at 4k to 1M worlds, eager and captured as one CUDA graph
#   3 train_default  training at the default worlds per run, 4 presets, eager and with --cuda-graph
#   4 train_8192     the same at 8,192 worlds per run
#   5 concurrent     K = 1, 4, 16 runs at once on the one GPU (as compare --jobs K), steps/s summed
#   6 compile        the world step and one agent under torch.compile, from a cold cache
# Each stage runs under `timeout -k 5` (its limit in seconds below; the sum is 520), prints its rows as it gets
# them, and writes its log to OUT/<n>_<stage>.log (OUT/0_setup.log holds the install; 7 files in all). The
# exit status is 1 if a stage failed or ran out of time (124 or 137 in its line), 2 where torch sees no CUDA
# device (one line, nothing run), 3 where the wheels would not install or a module would not import.
#
#     bash scripts/gpu_check.sh [--dry-run] [--wheels DIR] [OUT]
#
# The GPU machine has torch but not gymnasium, pettingzoo, pygame-ce or tyro: the script installs them from
# the wheels in DIR (default: the repo's .whl, which docs/design.md says how to fill) into a fresh temporary
# site, and imports every module the stages need, before any stage. --dry-run rehearses every stage at a
# tiny size on the CPU, through the same install, in under 3 minutes. OUT defaults to $OUT, else
# runs/gpu_check.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dry=0
wheels="$root/.whl"
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1 ;;
        --wheels) shift; wheels=${1:?--wheels needs a folder} ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "gpu_check.sh: unknown option $1; allowed: --dry-run, --wheels DIR, OUT" >&2; exit 2 ;;
        *) out=$1 ;;
    esac
    shift
done
out=${out:-${OUT:-runs/gpu_check}}
py=${PYTHON:-python3}
export SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

if [ "$dry" = 0 ] && ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check.sh: no CUDA device: $py's torch sees none here (or has no torch); run it on a GPU machine, or --dry-run on the CPU"
    exit 2
fi
mkdir -p "$out" || exit 3
cd "$root" || exit 3

# --- the carried wheels, into a fresh site, and every import the stages need ---------------------------------
WHEELS="gymnasium pettingzoo pygame-ce tyro docstring-parser typeguard farama-notifications typing-extensions"
site=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX") || exit 3
trap 'rm -rf "$site"' EXIT
{
    echo "== setup: $WHEELS from $wheels into $site"
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
        --find-links "$wheels" --target "$site" $WHEELS
} 2>&1 | tee "$out/0_setup.log"
if [ "${PIPESTATUS[0]}" != 0 ]; then
    echo "gpu_check.sh: the wheels in $wheels did not install (docs/design.md, Speed, says how to make them)" \
        | tee -a "$out/0_setup.log"
    exit 3
fi
export PYTHONPATH="$site:$root${PYTHONPATH:+:$PYTHONPATH}"
"$py" - "$site" "$dry" <<'PY' 2>&1 | tee -a "$out/0_setup.log"
import importlib, os, sys
site, dry = sys.argv[1], sys.argv[2] == "1"
failed = []
for name in ("torch", "numpy", "gymnasium", "pettingzoo", "pygame", "tyro", "typeguard", "docstring_parser", "scipy",
             "matplotlib", "tensorboard", "tqdm", "PIL", "pytest", "hypothesis",
             "common.dispatch", "envs", "envs.capture", "agents", "training", "training.bench", "compare.cli", "viewer"):
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # any reason a stage would stop at its first line
        failed.append(f"{name} ({type(exc).__name__}: {exc})")
        continue
    where = getattr(module, "__file__", "") or ""
    if where.startswith(site):
        print(f"   {name} {getattr(module, '__version__', '')} from the carried wheels")
if failed:
    print("gpu_check.sh: cannot import " + "; ".join(failed))
    sys.exit(3)
import torch
device = "the CPU (dry run)" if dry else f"{torch.cuda.get_device_name(0)}"
print(f"gpu_check.sh: every import works; torch {torch.__version__} on {device}")
PY
[ "${PIPESTATUS[0]}" = 0 ] || exit 3

# --- the stages --------------------------------------------------------------------------------------------
status=0
summary=()
stage() {  # stage NUMBER NAME LIMIT COMMAND...: run it under timeout -k, its output to the screen and its log
    local number=$1 name=$2 limit=$3; shift 3
    local log="$out/${number}_${name}.log" start=$SECONDS
    echo "== $number $name (limit ${limit} s): $*" | tee "$log"
    timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    local line="$number $name: exit status $rc in $((SECONDS - start)) s"
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && line="$line (out of time)"
    [ "$rc" = 0 ] || status=1
    echo "== $line" | tee -a "$log"
    summary+=("$line")
}
bench=("$py" scripts/bench.py)
presets=(feedforward recurrent feedback full)
if [ "$dry" = 0 ]; then
    stage 1 cuda_tests 90 "$py" -m pytest -q -rs -p no:cacheprovider -k cuda tests/test_no_sync.py \
        tests/test_compile_step.py tests/test_agents.py tests/test_envs.py
    stage 2 world 110 "${bench[@]}" env --device cuda --sizes 4096 65536 262144 1048576 --sync-sizes 16 --seconds 2 \
        --steps eager captured
    stage 3 train_default 90 "${bench[@]}" train --device cuda --presets "${presets[@]}" --paths batched captured \
        --updates 2
    stage 4 train_8192 100 "${bench[@]}" train --device cuda --num-envs 8192 --presets "${presets[@]}" \
        --paths batched captured --updates 1
    stage 5 concurrent 75 "${bench[@]}" concurrent --device cuda --jobs 1 4 16 --updates 20
    stage 6 compile 55 bash -c '"$0" scripts/bench.py env --device cuda --sizes 65536 --sync-sizes 16 --seconds 2 \
        --steps compiled && "$0" scripts/bench.py train --device cuda --presets recurrent --paths compiled --updates 2' "$py"
else  # every stage at a tiny size on the CPU: the same scripts, flags and install
    tiny=(--num-envs 8 --num-steps 8 --update-epochs 1 --num-minibatches 2 --updates 1)
    stage 1 cuda_tests 100 "$py" -m pytest -q -rs -p no:cacheprovider -k \
        "cuda or test_world_steps_and_partial_resets or test_a_captured_step_keeps_its_books" tests/test_no_sync.py \
        tests/test_compile_step.py tests/test_agents.py tests/test_envs.py
    stage 2 world 110 "${bench[@]}" env --device cpu --threads 1 --sizes 64 256 --sync-sizes 2 --seconds 0.5 \
        --steps eager captured
    stage 3 train_default 90 "${bench[@]}" train --device cpu --presets feedforward recurrent --paths batched "${tiny[@]}"
    stage 4 train_8192 100 "${bench[@]}" train --device cpu --presets feedforward full --paths batched "${tiny[@]}"
    stage 5 concurrent 80 "${bench[@]}" concurrent --device cpu --jobs 1 2 --num-envs 8 --updates 2
    stage 6 compile 90 "${bench[@]}" env --device cpu --threads 1 --sizes 16 --sync-sizes 2 --seconds 0.5 --steps compiled
fi
echo "== gpu_check.sh: $([ "$dry" = 1 ] && echo "dry run" || echo "done"); logs in $out"
printf '   %s\n' "${summary[@]}"
exit $status
