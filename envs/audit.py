"""What a world's spawn rules give a forager for nothing: berries eaten by a forager that only turns,
and berries that overlap, measured on the batched worlds themselves (`spawn_audit`).

    python -m envs.audit                 # every id and difficulty, v0 against v1 (about a minute)
"""

from __future__ import annotations

import gymnasium as gym
import torch

import envs  # noqa: F401  (registers the ids)
from envs.config import DIFFICULTIES

TURN_LEFT = 1  # the discrete action that turns in place


def overlapping(state, berry_radius: float) -> torch.Tensor:
    """(N,) bool: the worlds where two present berries overlap (centres closer than two radii)."""
    pos, present = state.berry_pos, state.berry_timer == 0  # (N, K, 2), (N, K)
    gap = torch.cdist(pos, pos)  # (N, K, K)
    both = present[:, :, None] & present[:, None, :] & ~torch.eye(pos.shape[1], dtype=torch.bool, device=pos.device)
    return ((gap < 2 * berry_radius) & both).flatten(1).any(1)


@torch.no_grad()
def spawn_audit(env_id: str, difficulty: str = "easy", worlds: int = 4096, steps: int = 20, seed: int = 0,
                **knobs) -> dict[str, float]:
    """A forager that only turns, in `worlds` worlds (arenas, on MultiBerry) for `steps` steps:

    - `free_5`: the share of foragers that ate a berry in their first 5 steps;
    - `free`: berries eaten per forager in all `steps` steps (it never moves, so each is a berry that grew
      or sat within its reach);
    - `overlap_reset`: the share of worlds with two overlapping berries at reset; `overlap_any`: at any step.
    """
    env = gym.make_vec(env_id, num_envs=worlds, difficulty=difficulty, copy=False, **knobs)
    world = env.unwrapped
    env.reset(seed=seed)
    turn = torch.full((world.num_envs,), TURN_LEFT, dtype=torch.int64)
    eaten = torch.zeros(world.num_envs)
    early = torch.zeros(world.num_envs, dtype=torch.bool)
    overlap_reset = overlapping(world.state, world.config.berry_radius)
    overlap_any = overlap_reset.clone()
    for t in range(steps):
        _, _, _, _, info = env.step(turn)
        bite = info["target_eaten"] + info["distractor_eaten"]
        eaten += bite
        if t < 5:
            early |= bite > 0
        overlap_any |= overlapping(world.state, world.config.berry_radius)
    env.close()
    return {"free_5": float(early.double().mean()), "free": float(eaten.double().mean()),
            "overlap_reset": float(overlap_reset.double().mean()), "overlap_any": float(overlap_any.double().mean())}


def main() -> None:
    print(f"{'id':<18} {'difficulty':<10} {'free in 5 steps':>16} {'free / 20 steps':>16} {'overlap at reset':>17} "
          f"{'overlap, 20 steps':>18}")
    for name in ("RedBerry", "CuedBerry", "ReversalBerry", "MultiBerry"):
        for difficulty in DIFFICULTIES:
            for version in (0, 1):
                env_id = f"{name}-v{version}"
                r = spawn_audit(env_id, difficulty, worlds=1024 if name == "MultiBerry" else 4096)
                print(f"{env_id:<18} {difficulty:<10} {r['free_5']:>16.3f} {r['free']:>16.3f} {r['overlap_reset']:>17.3f} "
                      f"{r['overlap_any']:>18.3f}")


if __name__ == "__main__":
    main()
