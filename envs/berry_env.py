"""BerryEnv: one foraging world behind the plain `gymnasium.Env` API, with numpy at the boundary."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs import rng
from envs.actions import ActionCheck
from envs.vector import BerryVectorEnv
from envs.window import ArenaRendering


class BerryEnv(ArenaRendering, gym.Env):
    """One foraging world, with numpy observations (see `BerryVectorEnv` for the full description).

    ## Description
    The same world as world i of a `BerryVectorEnv`: it runs a one-world vector env on the CPU, so
    `reset(seed=s + i)` here and `reset(seed=s)` there give the same trajectory under the same
    actions.

    ## Action Space
    `Discrete(5)`: 0 forward, 1 turn left, 2 turn right, 3 forward-left, 4 forward-right; or
    `Box(-1, 1, (2,), float32)` (linear, angular) with `action_type="continuous"`.

    ## Observation Space
    `Dict(image=Box(0, 255, (view_size, view_size, 3), uint8), goal=Box(0, 1, (6,), float32))`.

    ## Rewards
    +1 (`target_reward`) per target berry, -1 (`distractor_reward`) per other berry eaten.

    ## Starting State
    Random pose, berries, foliage and illumination, drawn from the seed.

    ## Episode End
    Truncated after `max_episode_steps` (500) steps; never terminated. Call `reset()` after it.
    (`gym.make(id, max_episode_steps=K)` is Gymnasium's own keyword: its TimeLimit wrapper cuts the
    episode at K steps; `info["forage"]` then holds the episode up to the cut.)

    ## Info
    `target_eaten`, `distractor_eaten`: berries eaten this step. `forage`: the episode so far (`r`,
    `l`, `target_eaten`, `distractor_eaten`), at every step. The key `episode` is left
    free for Gymnasium's `RecordEpisodeStatistics`.

    ## Arguments
    `task` ('red', 'cued', 'reversal'; set by the registered id), `render_mode` (None, 'rgb_array'
    or 'human'), `difficulty` and every knob of `envs.config.WorldConfig` as a keyword.

    ## Version History
    * `stagger_start` (off by default): the first episode after `reset()` ends at a uniform step below
      `max_episode_steps` (meant for the vector env, whose worlds then end their episodes at different steps).
    * v1: berries grow only outside an exclusion zone around every forager (its radius, the berry's and
      one step's travel) and never on another berry, at reset and at regrowth; ReversalBerry honours
      `target_share`. Measured with `python -m envs.audit` (4,096 worlds, a forager that only turns):
      v0 fed it a berry in its first 5 steps in 21% / 18% / 19% of worlds (easy / medium / hard) and
      had overlapping berries at reset in 74% / 78% / 92%; v1 in none.
    * v0: initial version; kept with its exact rules, so the stored records in docs/data reproduce.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        if render_mode not in (None, "rgb_array", "human"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None, 'rgb_array' or 'human'")
        self.render_mode = render_mode
        self._world = BerryVectorEnv(num_envs=1, device="cpu", copy=False, **kwargs)
        self.config = self._world.config
        self.observation_space = self._world.single_observation_space
        self.action_space = self._world.single_action_space
        self._check_action = ActionCheck(self.action_space)

    @property
    def state(self):
        """The underlying batched world state (batch of one), for scripted policies and drawing."""
        return self._world.state

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if isinstance(seed, (list, tuple, np.ndarray)):
            raise TypeError(f"seed={seed!r}; allowed: one integer >= 0 or None (seed lists are for the vector env)")
        rng.world_seeds(seed, 1)  # the vector env's checks, so both take the same seeds
        seed = None if seed is None else int(seed)  # Gymnasium's seeding takes Python ints only
        super().reset(seed=seed)
        obs, _ = self._world.reset(seed=seed)
        if self.render_mode == "human":
            self.render()
        return self._to_numpy(obs), {}

    def step(self, action):
        batched = self._check_action(action, name="action")[None]
        obs, reward, _, truncated, info = self._world.step(batched)
        # info["forage"]: the episode's totals so far, at every step, so that a cut by Gymnasium's TimeLimit
        # (gym.make(id, max_episode_steps=...)) still sees them; "episode" is left to RecordEpisodeStatistics.
        out_info = {"target_eaten": float(info["target_eaten"][0]), "distractor_eaten": float(info["distractor_eaten"][0]),
                    "forage": {k: bool(v[0]) if k == "staggered" else float(v[0])
                               for k, v in info["forage"].items() if k != "precision"}}
        if self.render_mode == "human":
            self.render()
        return self._to_numpy(obs), float(reward[0]), False, bool(truncated[0]), out_info

    def _arena_frame(self) -> np.ndarray:
        return self._world.render_arena(0)

    @staticmethod
    def _to_numpy(obs) -> dict[str, np.ndarray]:
        return {"image": obs["image"][0].numpy().copy(), "goal": obs["goal"][0].numpy().copy()}
