# The feature-similarity measure on one checkpoint (default: the demo, assets/demo.pt), in the attention scale's
# worlds of an env (default: CuedBerry-v1):
#     python docs/data/attention/demo_fs.py [CHECKPOINT [ENV_ID]]
# The v0 demo that docs/results.md quotes (rho +0.159): git show b27117b:assets/demo.pt > /tmp/demo_v0.pt &&
#     python docs/data/attention/demo_fs.py /tmp/demo_v0.pt CuedBerry-v0
import json
import sys

import torch

from compare import evaluate, grid
from compare.cli import CompareArgs
from compare.run import make_plan

path = sys.argv[1] if len(sys.argv) > 1 else "assets/demo.pt"
env_id = sys.argv[2] if len(sys.argv) > 2 else "CuedBerry-v1"
plan, _ = make_plan(CompareArgs(scale="attention"))
payload = torch.load(path, weights_only=False, map_location="cpu")
unit = grid.Unit(env_id, "feedback", 1, True, False, json.loads(payload["agent_config"]).get("passes", 1), "easy")
for lesion in ("none", "untrained"):
    for cond in ("easy", "cue_change"):
        if lesion == "untrained" and cond == "cue_change":
            continue
        m = evaluate.evaluate_cell(grid.EvalCell(unit, cond, lesion), plan, payload, torch.device("cpu"))
        print(lesion, cond, {k: round(v, 3) for k, v in m.items() if k.startswith("fs_") or k in ("normalized_score", "precision")})
