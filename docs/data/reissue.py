"""Re-issue the stored reports (issue 36): merge each data set's shards again with today's statistics and
measures, copy its report and figures into docs/<name>/, and print the verdicts that changed.

    python docs/data/reissue.py                 # all three: reversal, passes, attention (a few minutes)
    python docs/data/reissue.py --out runs/reissue reversal

Nothing is retrained or re-evaluated: the merge reads the stored cells and adds only the `still`
reference forager (and the new search-time measures of the references) on the same worlds, after
checking that the stored random and scripted foragers are reproduced there.

The old word of each contrast is what the previous rule gives on the same paired numbers: a 95%
percentile-bootstrap interval of the mean paired difference (10,000 resamples, seed 0), "better" or
"worse" where it excluded 0 and "no difference" where it held 0; that rule called an effect in 16-17%
of null draws at 5 seeds (tests/test_stats.py has the new rule's rates).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from compare.rows import read_csv  # noqa: E402
from compare.scales import CALIBRATED  # noqa: E402
from compare.text import code  # noqa: E402

SETS = ("reversal", "passes", "attention")
SHARDS = 5


def old_word(differences: list[float]) -> str:
    """The previous rule: a 95% percentile bootstrap of the mean (seed 0, 10,000 resamples)."""
    x = np.asarray(differences, dtype=np.float64)
    if x.size < 5:
        return "too few seeds"
    rng = np.random.default_rng(0)
    means = x[rng.integers(0, x.size, size=(10_000, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return "better" if low > 0 else "worse" if high < 0 else "no difference"


def merge(name: str, out: str) -> str:
    shards = [os.path.join(ROOT, "docs", "data", name, f"shard{i}") for i in range(SHARDS)]
    target = os.path.join(out, name)
    if os.path.exists(target):
        shutil.rmtree(target)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"), "--merge", *shards, "--out", target],
                   check=True, cwd=ROOT)
    return target


def publish(name: str, merged: str) -> None:
    """results.md as docs/<name>/report.md, beside its figures."""
    folder = os.path.join(ROOT, "docs", name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.endswith(".png"):
            os.remove(os.path.join(folder, old))
    for png in os.listdir(merged):
        if png.endswith(".png"):
            shutil.copy(os.path.join(merged, png), folder)
    text = open(os.path.join(merged, "results.md")).read()
    text = re.sub(r"--out \S+", f"--out runs/{name}", text)  # where the README's command writes it
    if CALIBRATED[name]:  # the stored plans predate the field; the scale says what was tuned before the runs
        text = re.sub(r"^(Written .*)$", rf"\1\n\n**Calibrated on few seeds before the runs:** {CALIBRATED[name]}",
                      text, count=1, flags=re.M)
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(text)


def changed(name: str, merged: str) -> list[str]:
    lines = []
    for v in read_csv(os.path.join(merged, "verdicts.csv")):
        before = old_word(json.loads(v["differences"]))
        if before != v["verdict"]:
            contrast = f"{code(v['x'])} vs {code(v['y'])}"
            lines.append(f"| {name} | {v['analysis']} | {v['task']} | `{v['condition']}` | {contrast} | {v['metric']} | "
                         f"{before} | **{v['verdict']}** | {v['difference']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}] | "
                         f"{v['p']:.3f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help=f"the data sets, of {', '.join(SETS)} (default: all three)")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "reissue"))
    args = parser.parse_args()
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        parser.error(f"sets: {unknown} unknown; allowed: {', '.join(SETS)}")
    rows = []
    for name in args.sets or SETS:
        merged = merge(name, args.out)
        publish(name, merged)
        rows += changed(name, merged)
    print("| report | analysis | task | condition | contrast | measure | old word (withdrawn rule) | new word | difference [95% CI] | p |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
