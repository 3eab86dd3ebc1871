"""Compare the agents: train each preset on each task for K seeds, evaluate every trained agent in
batched rollouts over a grid of conditions and lesions, and report the statistics.

`python scripts/compare.py` runs `compare.run.run_compare`. The pieces: `compare.grid` (the
conditions, the plan, units and cells), `compare.evaluate` (batched evaluation of one cell),
`compare.measures` (feature-similarity gain, spatial index, reversal curve, set size, passes), `compare.stats`
(Student-t intervals, paired t-tests, TOST, Holm, power), `compare.store` (finished cells on disk),
`compare.rows` (one row per evaluation cell, and the CSVs), `compare.analysis` (one module per question:
contrasts, scores, efficiency, lesions, feature gain, set size, passes, reversal), `compare.report`
(results.md, verdicts.csv and the figures from the analyses),
`compare.work` (one group's work: a cell's seeds trained as one population, then evaluated),
`compare.launch` (where the groups run: this process, --jobs worker processes, Ray tasks)
and `compare.run` (the plan, the order of work, resume, shards and merge).
"""

from compare.cli import CompareArgs
from compare.grid import CONDITIONS, CompareError, Plan
from compare.run import make_plan, merge, run_compare
from compare.scales import SCALES

__all__ = ["CONDITIONS", "SCALES", "CompareArgs", "CompareError", "Plan", "make_plan", "merge", "run_compare"]
