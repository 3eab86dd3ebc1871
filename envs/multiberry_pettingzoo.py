"""MultiBerry behind PettingZoo: one arena as a ParallelEnv (`parallel_env`) or an AEC env (`env`).

The arena steps through the world core (`envs.arena.step_arenas`) with respawn=False: a forager
that starves is removed from `agents` and stays dead, and the episode ends when every forager has
died or at the time limit. Numpy at the boundary, torch on the CPU inside.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.error import ClosedEnvironmentError
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from envs import rng
from envs.actions import ActionCheck, action_space
from envs.arena import arena_view, empty_arenas, step_arenas
from envs.base import OneThread, observation_space
from envs.multiberry import ArenaRenderer, foragers, goals, make_multi_config
from envs.window import ArenaRendering


class MultiBerryParallelEnv(ArenaRendering, ParallelEnv):
    """One MultiBerry arena behind PettingZoo's ParallelEnv API, numpy at the boundary.

    Agents are "forager_0" ... "forager_{M-1}". Actions are ints (Discrete(5)) or float32 (2,)
    arrays with `action_type="continuous"`; observations are {"image", "goal"} as in RedBerry.
    A forager that starves (`starvation_steps > 0`) is terminated and removed from `agents`; the
    episode ends when all have died or after `max_episode_steps` (all are then truncated), and a
    step after that raises until `reset()`. One thread at a time may step or reset it.
    """

    metadata = {"name": "multiberry_v0", "render_modes": ["human", "rgb_array"], "render_fps": 15,
                "is_parallelizable": True}

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        if render_mode not in (None, "human", "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} must be None, 'human' or 'rgb_array'")
        self.render_mode = render_mode
        self.multi = make_multi_config(**kwargs)
        self.config = self.multi.world
        self.possible_agents = [f"forager_{i}" for i in range(self.multi.num_agents)]
        self.agents: list[str] = []
        self._obs_space = observation_space(self.config)
        self._act_space = action_space(self.config)
        self._check_action = ActionCheck(self._act_space)
        self._device = torch.device("cpu")
        self.state_ = empty_arenas(self.multi, 1, self._device)
        self._renderer = ArenaRenderer(self.multi, 1, self._device)
        self._seeded = False
        self._one_thread = OneThread(type(self).__name__)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        with self._one_thread("reset"):
            return self._reset(seed)

    def _reset(self, seed: int | None):
        self._check_open("reset")
        if seed is not None or not self._seeded:
            self.state_.seed = torch.tensor([rng.fold_seed(rng.world_seeds(seed, 1, "one arena")[0])])  # checks it
            self.state_.counter = torch.zeros(1, dtype=torch.int64)
            self._seeded = True
        self.state_.arena_reset = torch.ones(1, dtype=torch.bool)
        self.state_ = step_arenas(self.multi, self.state_, self._idle(), respawn=False, stagger=True).state
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._observations(), {a: {} for a in self.agents}

    def close(self) -> None:
        super().close()  # the window, if one is open
        self._closed = True

    def _check_open(self, call: str) -> None:
        if getattr(self, "_closed", False):
            raise ClosedEnvironmentError(f"{call}() was called after close(); make a new env to go on")

    def step(self, actions: dict):
        with self._one_thread("step"):
            return self._step(actions)

    def _step(self, actions: dict):
        self._check_open("step")
        if not self._seeded:
            raise RuntimeError("step() was called before reset(); call reset(seed=...) first")
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict from agent name to action, got {type(actions).__name__}")
        dead = sorted(set(actions) - set(self.agents))
        if dead:
            raise ValueError(f"actions given for agents that are not alive: {dead}; alive agents are {self.agents}")
        if not self.agents:
            raise RuntimeError("step() was called after the episode ended (env.agents is empty); call reset() to "
                               "start the next one")
        missing = sorted(set(self.agents) - set(actions))
        if missing:
            raise ValueError(f"no action given for agents {missing}; every agent in env.agents needs one")
        batched = self._idle().clone()
        for agent, action in actions.items():
            batched[0, self.possible_agents.index(agent)] = self._check_action(action, name=f"action for {agent}")
        result = step_arenas(self.multi, self.state_, batched, respawn=False)
        self.state_ = s = result.state
        obs = self._observations()
        rewards, terms, truncs, infos = {}, {}, {}, {}
        for agent in self.agents:
            i = self.possible_agents.index(agent)
            rewards[agent] = float(result.reward[0, i])
            terms[agent] = bool(result.terminated[0, i])
            truncs[agent] = bool(result.truncated[0, i])
            infos[agent] = {"target_eaten": float(result.target_eaten[0, i]),
                            "distractor_eaten": float(result.distractor_eaten[0, i])}
            if terms[agent] or truncs[agent]:
                infos[agent]["forage"] = {"r": float(s.episode_return[0, i]), "l": int(s.episode_step[0, i]),
                                           "target_eaten": float(s.episode_target[0, i]),
                                           "distractor_eaten": float(s.episode_distractor[0, i])}
                if self.config.stagger_start:  # the arena's first episode was cut short (see MultiBerryVectorEnv)
                    infos[agent]["forage"]["staggered"] = bool(s.episode_limit[0] < self.config.max_episode_steps)
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terms, truncs, infos

    def _arena_frame(self) -> np.ndarray:
        from envs.draw import draw_arena_frame  # pygame loads on the first drawing, not with the worlds

        return draw_arena_frame(self.config, arena_view(self.state_), 0, 384, **foragers(self.state_, 0))

    def state(self) -> np.ndarray:
        """A global view for centralised critics: the arena drawn top-down, (384, 384, 3) uint8."""
        return self._arena_frame()

    def _idle(self) -> torch.Tensor:
        m = self.multi.num_agents
        if self.config.action_type == "discrete":
            return torch.zeros(1, m, dtype=torch.int64)
        return torch.zeros(1, m, 2)

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        images = self._renderer.render(self.state_).numpy()
        goal = goals(self.state_).numpy()
        return {a: {"image": images[i].copy(), "goal": goal[i].copy()}
                for i, a in enumerate(self.possible_agents) if a in self.agents}


def parallel_env(**kwargs) -> MultiBerryParallelEnv:
    """PettingZoo ParallelEnv of one MultiBerry arena."""
    return MultiBerryParallelEnv(**kwargs)


def env(**kwargs):
    """PettingZoo AEC env of one MultiBerry arena (parallel_to_aec of `parallel_env`)."""
    return parallel_to_aec(parallel_env(**kwargs))
