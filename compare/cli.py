"""The command line of scripts/compare.py: argparse into `compare.run.CompareArgs`."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from compare.grid import CONDITIONS, LESIONS, SCALES, CompareError
from compare.run import CompareArgs


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # a bad flag is bad input: CompareError, exit status 2
        raise CompareError(f"{message}; see --help")


def build_parser() -> argparse.ArgumentParser:
    default = SCALES["default"]
    parser = _Parser(
        prog="compare.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train each agent preset on each task for K seeds, evaluate every trained agent in batched "
                    "rollouts over a grid of conditions and lesions, and write results.csv, results.md and plots "
                    "into --out. Flags left out take the values of --scale.",
        epilog="conditions: " + "; ".join(f"{c.name}: {c.description}" for c in CONDITIONS.values()))
    add = parser.add_argument
    add("--out", default="runs/compare", help="output folder; run again with the same flags to resume (default: %(default)s)")
    add("--scale", default="default", choices=list(SCALES),
        help="default: a 2-core CPU, about 45 min; full: a GPU, every preset and task, 10 seeds, 10M steps")
    add("--agents", nargs="+", help=f"agent presets (default: {' '.join(default['agents'])})")
    add("--envs", nargs="+", help=f"training tasks (default: {' '.join(default['envs'])})")
    add("--seeds", type=int, help=f"seeds 1..K per agent and task (default: {default['seeds']})")
    add("--steps", type=int, help=f"env steps per training run (default: {default['steps']:,})")
    add("--conditions", nargs="+", help="evaluation conditions (default: all; listed below)")
    add("--lesions", nargs="+", help=f"lesions to evaluate: {' '.join(LESIONS)} (default: all)")
    add("--lesion-conditions", nargs="+", help="conditions the lesions are evaluated in (default: easy hard)")
    add("--passes", nargs="+", type=int, help="feedback passes T to sweep for feedback agents (default: 1 2 3 4)")
    add("--passes-conditions", nargs="+", help="conditions of the T sweep (default: easy hard)")
    add("--train-difficulty", help="difficulty the agents train on (default: easy)")
    add("--episode-steps", type=int, help=f"episode length in training and evaluation (default: {default['episode_steps']})")
    add("--eval-worlds", type=int, help=f"worlds (one episode each) per evaluation cell (default: {default['eval_worlds']})")
    add("--num-envs", type=int, help=f"training worlds (default: {default['num_envs']})")
    add("--num-steps", type=int, help=f"training rollout length (default: {default['num_steps']})")
    add("--device", help="auto, cpu or cuda (default: auto)")
    add("--shard", help="i/n: run only units i, i+n, ... (0 <= i < n); join the shards with --merge")
    add("--from", dest="from_runs", nargs="+", default=[], metavar="RUN_DIRS",
        help="evaluate these trained run directories (or folders of them) instead of training")
    add("--merge", nargs="+", default=[], metavar="DIRS", help="join these shards' output folders into --out and report")
    add("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> CompareArgs:
    """Flags -> CompareArgs; a bad flag raises CompareError."""
    ns = build_parser().parse_args(argv)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(ns).items()}
    return CompareArgs(**values)
