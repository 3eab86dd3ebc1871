"""The worlds behind the references: what a condition's worlds hold, and reference cells made whole.

`drawn_worlds` counts what a condition's worlds hold at reset (targets, distractors, near hues)
and how often ReversalBerry's paying colour switches, on the worlds themselves, so that every
condition's label can be held to them (tests/test_compare_references.py).

`complete_references` brings reference cells stored before a reference forager or a measure
existed up to today's: a reference cell's worlds are fixed by its `EnvSpec`, so every reference
forager can run on them again, with no agent and no checkpoint. The foragers that were stored must
come out the same, number for number; where one does not, the worlds have changed since the record
was made, and the cell is left as it was (a report must not mix worlds).
"""

from __future__ import annotations

import math
import time

import torch

from compare.errors import CompareError
from compare.evaluate import REFERENCE_KINDS, EnvSpec, ReferencePolicy, env_spec, evaluate_reference, make_env
from compare.grid import CONDITIONS, Plan, Unit, condition_seed, world_kwargs_for
from compare.store import cell_path, load_cells, save_cell
from envs.config import NUM_COLOURS
from envs.world import is_target

# Measures `compare.evaluate.run_episodes` gained after reference cells were first stored: a cell whose
# foragers lack one is made again.
LATER_MEASURES = ("clean_steps_to_first_target", "clean_found_share", "distractor_first_share")
TOLERANCE = 1e-9  # a stored number is reproduced when the new one is within this (relative, or absolute near 0)


def drawn_worlds(unit: Unit, condition: str, episode_steps: int, worlds: int = 256) -> dict:
    """What the first `worlds` worlds of `condition` hold for `unit` (the worlds its cells meet), on the CPU:
    "targets" and "distractors", the sorted distinct numbers of each present at reset (e.g. [2] and [30]);
    "near_share", the share of those distractors in the target's neighbouring hues; "switch_rate", on
    ReversalBerry's worlds the paying colour's switches per world and step over one episode (None elsewhere),
    the forager turning on the spot."""
    env_id, kwargs = world_kwargs_for(unit, CONDITIONS[condition], episode_steps)
    spec = EnvSpec(condition, env_id, tuple(sorted(kwargs.items())), CONDITIONS[condition].cue_change, worlds,
                   condition_seed(condition))
    env = make_env(spec, torch.device("cpu"))
    try:
        env.reset(seed=spec.seed)
        world, state = env.unwrapped, env.unwrapped.state
        present, target = state.berry_timer == 0, is_target(state)
        targets, distractors = (present & target).sum(1), (present & ~target).sum(1)
        hue_step = (state.berry_colour - state.target_colour[:, None]) % NUM_COLOURS  # (N, K)
        near = present & ~target & ((hue_step == 1) | (hue_step == NUM_COLOURS - 1))
        switch_rate = None
        if world.config.task == "reversal":
            still = ReferencePolicy("still")
            still.start(world, None)
            switches = torch.zeros((), dtype=torch.int64)
            for _ in range(spec.steps):  # one episode: the autoreset after its last step is not taken
                before = world.state.target_colour
                env.step(still.act(None, world))
                switches += (world.state.target_colour != before).sum()
            switch_rate = int(switches) / (worlds * spec.steps)
        return {"targets": sorted(set(targets.tolist())), "distractors": sorted(set(distractors.tolist())),
                "near_share": int(near.sum()) / max(int(distractors.sum()), 1), "switch_rate": switch_rate}
    finally:
        env.close()


def complete_references(out: str, plan: Plan, device: torch.device = torch.device("cpu")) -> list[str]:
    """Make every reference cell in `out` that lacks a forager of `REFERENCE_KINDS` or a measure of
    `LATER_MEASURES` whole: its worlds are found among the plan's (the units of OUT's train records, in each
    of the plan's conditions), every reference forager runs on them again on `device`, and the cell is
    rewritten only where the foragers it held come out the same (within `TOLERANCE`). Returns what was
    done and what was not, and why, as sentences for the user; [] where every cell was whole."""
    cells = {key: record for key, record in load_cells(out, "reference").items() if _lacks(record)}
    if not cells:
        return []
    specs = _specs(out, plan)
    messages, completed, checked, added = [], [], set(), set()  # added: the foragers and measures new to a cell
    start = time.time()
    for key, record in cells.items():
        spec = specs.get(key)
        if spec is None:
            messages.append(f"reference cell {key}: left as it was: none of the plan's units makes these worlds in "
                            f"any of its conditions {list(plan.conditions)} (the conditions or the world settings "
                            f"changed since the cell was made), so they cannot be made again")
            continue
        fresh = evaluate_reference(spec, device)
        stored = [kind for kind in REFERENCE_KINDS if kind in record]
        differences = [_difference(kind, name, value, fresh[kind].get(name, math.nan))
                       for kind in stored for name, value in record[kind].items()]
        differences = [d for d in differences if d]
        if differences:
            messages.append(f"reference cell {key}: left as it was: the {' and '.join(stored)} foragers it holds "
                            f"did not come out the same ({'; '.join(differences[:3])}"
                            f"{f'; and {len(differences) - 3} more' if len(differences) > 3 else ''}): its worlds "
                            f"have changed since it was made, and a report must not mix worlds")
            continue
        added |= {kind for kind in REFERENCE_KINDS if kind not in record}
        added |= {name for kind in stored for name in LATER_MEASURES if name not in record[kind]}
        checked |= set(stored)
        save_cell(out, "reference", key, {**{k: v for k, v in record.items() if k != "key"}, **fresh})
        completed.append(key)
    if completed:
        new = [f"`{name}`" for name in REFERENCE_KINDS + LATER_MEASURES if name in added]
        kinds = [kind for kind in REFERENCE_KINDS if kind in checked]
        messages.insert(0, f"completed {len(completed)} reference cell{'s' if len(completed) > 1 else ''} with "
                           f"{', '.join(new)} ({time.time() - start:.1f} s on {device.type}); reproduced the stored "
                           f"{' and '.join(kinds)} foragers exactly (every number within {TOLERANCE:g})")
    return messages


def _lacks(record: dict) -> bool:
    return any(kind not in record or any(name not in record[kind] for name in LATER_MEASURES)
               for kind in REFERENCE_KINDS)


def _specs(out: str, plan: Plan) -> dict[str, EnvSpec]:
    """The worlds of every unit of OUT's train records in each of the plan's conditions that applies to it, by key."""
    specs = {}
    for key, record in load_cells(out, "train").items():
        values = record.get("unit")
        try:
            unit = Unit(**{**values, "world_kwargs": tuple(tuple(pair) for pair in values["world_kwargs"])})
        except (TypeError, KeyError) as exc:
            raise CompareError(f"{cell_path(out, 'train', key)}: its unit {values!r} is not one this version reads "
                               f"({exc}); it is damaged or from another version") from None
        for name in plan.conditions:
            if name in CONDITIONS and CONDITIONS[name].applies_to(unit.task):
                spec = env_spec(unit, name, plan)
                specs[spec.key] = spec
    return specs


def _difference(kind: str, name: str, stored, fresh) -> str:
    """'' where the re-run number matches the stored one, else a phrase saying how it differs."""
    both_nan = isinstance(stored, float) and isinstance(fresh, float) and math.isnan(stored) and math.isnan(fresh)
    if both_nan or (isinstance(stored, (int, float)) and isinstance(fresh, (int, float))
                    and abs(stored - fresh) <= TOLERANCE * max(1.0, abs(stored))):
        return ""
    return f"{kind} {name}: stored {stored!r}, now {fresh!r}"
