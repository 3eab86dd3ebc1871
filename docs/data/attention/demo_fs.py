# The feature-similarity measure on the demo checkpoint (assets/demo.pt), in the attention scale's worlds:
#     python docs/data/attention/demo_fs.py
import json, torch
from compare import grid, scales, evaluate
from compare.cli import CompareArgs
from compare.run import make_plan
plan, _ = make_plan(CompareArgs(scale="attention"))
payload = torch.load("assets/demo.pt", weights_only=False, map_location="cpu")
unit = grid.Unit("CuedBerry-v0", "feedback", 1, True, False, json.loads(payload["agent_config"]).get("passes", 1), "easy")
for lesion in ("none", "untrained"):
    for cond in ("easy", "cue_change"):
        if lesion == "untrained" and cond == "cue_change": continue
        m = evaluate.evaluate_cell(grid.EvalCell(unit, cond, lesion), plan, payload, torch.device("cpu"))
        print(lesion, cond, {k: round(v, 3) for k, v in m.items() if k.startswith("fs_") or k in ("normalized_score", "precision")})
