"""The command line of scripts/compare.py: `CompareArgs`, a dataclass whose fields' docstrings are
its --help (tyro, as the trainer's `training.config.Config`).

`parse_args` turns flags into `CompareArgs`; a flag tyro cannot parse (an unknown flag, a number
that is not one) raises `CompareError` with one line that names it. The values themselves are
checked by `compare.run.make_plan`, against the plan they make.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from typing import Annotated, Optional, Sequence

import tyro

from common.flags import parse_flags
from compare.grid import CONDITIONS, CompareError
from compare.scales import SCALES, cost_text, scale_plan


@dataclass
class CompareArgs:
    """The flags of scripts/compare.py; None takes the value of --scale."""

    out: str = "runs/compare"
    """Output folder; run again with the same flags to resume."""
    scale: str = "default"
    """default: the easy baseline, for a 2-core CPU; card: each preset on its mechanism's task; reversal,
    attention, passes: the plasticity, feature-attention and iterative-passes tests; full: the card on a GPU."""
    agents: Optional[tuple[str, ...]] = None
    """PRESET[_T<k>][@DIFFICULTY][+NAME=VALUE...] (feedback_T3@hard: T=3, hard worlds; feedback+plastic=True: an
    agent setting or world knob); with --envs a product, alone a filter."""
    envs: Optional[tuple[str, ...]] = None
    """Training tasks; left out: the scale's; with --agents a product, alone the scale's groups of them."""
    seeds: Optional[int] = None
    """Seeds 1..K per agent and task; left out: the scale's."""
    steps: Optional[int] = None
    """Env steps per training run; left out: the scale's."""
    conditions: Optional[tuple[str, ...]] = None
    """Evaluation conditions (above); left out: all that apply to the tasks."""
    lesions: Optional[tuple[str, ...]] = None
    """Lesions to evaluate: feedback goal plasticity; left out: all."""
    lesion_conditions: Optional[tuple[str, ...]] = None
    """Conditions the lesions are evaluated in; left out: the scale's among --conditions."""
    passes: Optional[tuple[int, ...]] = None
    """Feedback passes T to sweep for feedback agents; left out: the scale's."""
    passes_conditions: Optional[tuple[str, ...]] = None
    """Conditions of the T sweep; left out: the scale's among --conditions."""
    train_difficulty: Optional[str] = None
    """Difficulty the agents train on; left out: easy."""
    episode_steps: Optional[int] = None
    """Episode length in training and evaluation; left out: the scale's."""
    eval_worlds: Optional[int] = None
    """Worlds (one episode each) per evaluation cell; left out: the scale's."""
    num_envs: Optional[int] = None
    """Training worlds; left out: the scale's."""
    num_steps: Optional[int] = None
    """Training rollout length; left out: the scale's."""
    clutter_ramp: Optional[float] = None
    """Every run's --clutter-ramp: foliage and noise grow to full over this fraction of training (0 = off);
    left out: the scale's."""
    device: Optional[str] = None
    """auto, cpu or cuda; left out: auto."""
    shard: Optional[str] = None
    """i/n: run only units i, i+n, ... (0 <= i < n); join the shards with --merge."""
    jobs: int = 1
    """Groups (a task and agent's seeds, trained as one population) run at once, each in its own process."""
    launcher: str = "local"
    """local: this machine (--jobs); ray: Ray tasks, on the cluster at RAY_ADDRESS or a local one (extra [ray])."""
    from_runs: Annotated[tuple[str, ...], tyro.conf.arg(name="from", metavar="RUN_DIRS")] = ()
    """Evaluate these trained run directories (or folders of them) instead of training."""
    merge: Annotated[tuple[str, ...], tyro.conf.arg(metavar="DIRS")] = ()
    """Join these shards' output folders into --out and report."""
    human: Optional[str] = None
    """A folder of `watch.py --play` records (runs/play): copied into OUT/human, and each condition whose worlds
    they were played in gets a human reference row in the score tables."""
    progress: bool = True
    """Progress bars (--no-progress: none)."""
    command: tyro.conf.Suppress[Optional[str]] = None
    """The command line, for the report; default: this process's."""

    def command_line(self) -> str:
        return self.command or "python " + " ".join(shlex.quote(a) for a in ["scripts/compare.py", *sys.argv[1:]])


def _description() -> str:
    scales = "; ".join(f"{name}: {_trained(s)}, {s['seeds']} seeds, {s['steps']:,} steps, {s['episode_steps']}-step "
                       f"episodes, {s['eval_worlds']} worlds a cell ({cost_text(scale_plan(name))})"
                       for name, s in SCALES.items())
    conditions = "; ".join(f"{c.name}: {c.description}" for c in CONDITIONS.values())
    return ("Train each agent preset on each task for K seeds, evaluate every trained agent in batched rollouts "
            "over a grid of conditions and lesions, and write results.csv, results.md and plots into --out. "
            f"Flags left out take the values of --scale ({scales}).\n\nConditions: {conditions}.")


def _trained(scale: dict) -> str:
    groups = scale.get("groups") or [(t, scale["agents"]) for t in scale["envs"]]
    return "; ".join(f"{' '.join(agents)} on {task}" for task, agents in groups)


def parse_args(argv: Optional[Sequence[str]] = None) -> CompareArgs:
    """Flags -> CompareArgs; a flag that cannot be parsed raises CompareError."""
    return parse_flags(CompareArgs, argv, "compare.py", CompareError, description=_description())
