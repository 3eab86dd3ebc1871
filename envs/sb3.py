"""Stable-Baselines3 over the batched worlds: `SB3VecEnv`, an SB3 `VecEnv` around a torch vector env.

`envs.sb3_vec_env(id, num_envs, **kwargs)` makes one. It needs the `[sb3]` extra; `import envs`
does not import this module.

SB3's VecEnv convention differs from our envs' `AutoresetMode.NEXT_STEP` (Gymnasium's autoreset
doc, and SB3's "Vectorized Environments" page): where an episode ends, SB3 wants the *first*
observation of the next episode back from that same `step_wait`, the final one in
`infos[i]["terminal_observation"]`, and `infos[i]["TimeLimit.truncated"]` set when time, not the
task, ended it (so PPO bootstraps from the terminal observation). Our envs return the final
observation and start the next episode on the following step, ignoring its action. So wherever an
episode ended, `step_wait` starts the next one at once with the env's partial reset,
`reset(options={"reset_mask": done})`, which steps only those worlds (or forager slots) and leaves
the others exactly as they were. So a world follows the same trajectory as under NEXT_STEP minus
the steps whose action was ignored (in MultiBerry, a starved forager's respawn costs its arena no
step, so it acts one step sooner). That extra world step and redraw happen only on steps where
some episode ended; nothing loops over the worlds but the building of the `infos` list SB3 reads.

Observations go out as numpy dicts (image uint8 H x W x 3, goal float32 (6,)); SB3 transposes the
image itself (`VecTransposeImage`). SB3's stock CNN (`NatureCNN`, in "CnnPolicy" and
"MultiInputPolicy") needs images of at least 36 x 36; the worlds' default is 24. Either pass
`view_size=36`, or keep the default view and give the policy `SmallImageExtractor`, our agents' own
trunk shape (3x3 convolutions of 16, 32, 32 channels, strides 2, 2, 1), through
`policy_kwargs=envs.sb3_policy_kwargs()`, as MiniGrid's docs do for its small images.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn


def _numpy(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {key: value.cpu().numpy() for key, value in obs.items()}


class SB3VecEnv(VecEnv):
    """An SB3 VecEnv over one of our torch vector envs (`BerryVectorEnv`, `MultiBerryVectorEnv`).

    `step_wait` returns (obs, rewards, dones, infos) in SB3's convention (module docstring): a
    finished slot's obs is its next episode's first, `infos[i]` then holds `terminal_observation`,
    `TimeLimit.truncated` and `episode` = {"r", "l"} (what SB3 logs as rollout/ep_rew_mean), and
    is empty otherwise. `seed(s)` (SB3's, as PPO(seed=s) calls it) seeds world i with s + i at the
    next reset. `env_method` and `set_attr` act on the one batched env, once, whatever the indices.
    """

    def __init__(self, env: VectorEnv):
        if env.metadata.get("autoreset_mode") != AutoresetMode.NEXT_STEP:
            raise ValueError(f"SB3VecEnv needs a NEXT_STEP vector env, got {env.metadata.get('autoreset_mode')}")
        if not getattr(env, "copy", True):
            raise ValueError("SB3VecEnv needs fresh observations each step: make the env with copy=True")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._episode_return = np.zeros(self.num_envs, np.float64)
        self._episode_length = np.zeros(self.num_envs, np.int64)

    def reset(self) -> VecEnvObs:
        seed = self._seeds[0]  # SB3's seed() sets seeds s + i; our envs take s and give world i s + i
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        self._episode_return[:] = 0
        self._episode_length[:] = 0
        return _numpy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, _ = self.env.step(self._actions)
        obs = _numpy(obs)
        rewards = reward.cpu().numpy().astype(np.float32)
        terminated, truncated = terminated.cpu().numpy(), truncated.cpu().numpy()
        dones = terminated | truncated
        self._episode_return += rewards
        self._episode_length += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": {key: value[i].copy() for key, value in obs.items()},
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._episode_return[i]), "l": int(self._episode_length[i])},
                }
            self._episode_return[dones] = 0
            self._episode_length[dones] = 0
            obs = _numpy(self.env.reset(options={"reset_mask": dones})[0])  # the next episodes start now
        return obs, rewards, dones, infos

    def close(self) -> None:
        self.env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        """The top-down frame of each slot's world (a MultiBerry slot shows its arena, its forager ringed)."""
        per_arena = getattr(self.env, "num_agents", 1)
        if per_arena == 1:
            return [self.env.render_arena(i) for i in range(self.num_envs)]
        return [self.env.render_arena(i // per_arena, watched=i % per_arena) for i in range(self.num_envs)]

    def _count(self, indices: VecEnvIndices) -> int:
        """How many envs ``indices`` names (SB3's forms: None, an int, a list), each checked as a list index of
        the num_envs envs would be (negative ones count from the end, as in DummyVecEnv)."""
        chosen = list(self._get_indices(indices))
        bad = [i for i in chosen if not (isinstance(i, (int, np.integer)) and -self.num_envs <= i < self.num_envs)]
        if bad:
            raise IndexError(f"indices={indices!r} holds {bad}; allowed: env indices from 0 to {self.num_envs - 1}")
        return len(chosen)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "render_mode":  # SB3 asks at construction, and warns where an env lacks it
            return [getattr(self.env, "render_mode", None)] * self._count(indices)
        return [getattr(self.env, attr_name)] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._count(indices)
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result] * self._count(indices)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * self._count(indices)


class SmallImageExtractor(BaseFeaturesExtractor):
    """SB3 features for the worlds' small views (any side >= 4, the default 24 included): the image
    through our agents' trunk shape (3x3 convolutions of `channels`, strides 2, 2, 1, ReLU) and a
    linear layer of `features_dim`, concatenated with every other key flattened (the goal). Takes the
    image channel-first (after SB3's `VecTransposeImage`) or channel-last; SB3 scales it to [0, 1]."""

    def __init__(self, observation_space: spaces.Dict, features_dim: int = 128,
                 channels: Sequence[int] = (16, 32, 32)):
        shape = observation_space["image"].shape
        self.channels_last = shape[-1] in (1, 3, 4) and shape[0] not in (1, 3, 4)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        layers, previous = [], c
        for width, stride in zip(channels, (2, 2, 1)):
            layers += [torch.nn.Conv2d(previous, width, 3, stride=stride, padding=1), torch.nn.ReLU()]
            previous = width
        cnn = torch.nn.Sequential(*layers, torch.nn.Flatten())
        with torch.no_grad():
            flat = cnn(torch.zeros(1, c, h, w)).shape[1]
        others = [k for k in observation_space.spaces if k != "image"]
        super().__init__(observation_space, features_dim + sum(int(np.prod(observation_space[k].shape)) for k in others))
        self.cnn, self.others = cnn, others
        self.linear = torch.nn.Sequential(torch.nn.Linear(flat, features_dim), torch.nn.ReLU())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        image = observations["image"]
        if self.channels_last:
            image = image.permute(0, 3, 1, 2)
        parts = [self.linear(self.cnn(image))] + [observations[k].flatten(1) for k in self.others]
        return torch.cat(parts, dim=1)
