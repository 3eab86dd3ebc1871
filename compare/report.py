"""The compare's output, made from its finished cells: results.csv, summary.csv, results.md, plots.

- `results.csv`: one row per (task, agent, seed, condition, lesion, T) with its metrics and the
  condition's random and scripted reference returns (`compare.tables`).
- `summary.csv`: the rows grouped over seeds: n, mean, 95% bootstrap CI and IQM of each metric.
- `results.md`: the command and wall time, the setup, one table per task, the lesions, the
  neuroscience measures, and the plots (`compare.markdown`).
- PNG plots, one per table (`compare.plots`).

Everything here reads `OUT/cells`; it trains and evaluates nothing, so a report can be rebuilt
(or merged from shards) at any time. Every file is written atomically.
"""

from __future__ import annotations

import os

from common.files import write_text
from compare.grid import Plan
from compare.markdown import RESULTS_CSV, RESULTS_MD, SUMMARY_CSV, markdown
from compare.plots import draw_plots
from compare.store import load_cells
from compare.tables import build_rows, summary_rows, write_csv


def write_report(out: str, plan: Plan) -> str:
    """Write results.csv, summary.csv, results.md and the plots into `out`; returns results.md's path."""
    rows = build_rows(out, plan)
    write_csv(rows, os.path.join(out, RESULTS_CSV))
    summary = summary_rows(rows)
    write_csv(summary, os.path.join(out, SUMMARY_CSV), list(summary[0]) if summary else ["task"])
    trained = load_cells(out, "train")
    drawn = draw_plots(out, plan, rows, trained)
    path = os.path.join(out, RESULTS_MD)
    write_text(path, markdown(out, plan, rows, trained, drawn))
    return path
