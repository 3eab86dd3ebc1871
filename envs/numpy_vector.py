"""A numpy face for the torch vector env, for numpy-based libraries (Stable-Baselines3, CleanRL)."""

from __future__ import annotations

import torch
from gymnasium.vector import VectorWrapper


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return value


class NumpyVectorEnv(VectorWrapper):
    """Wraps a BerryVectorEnv so that observations, rewards, flags and infos are numpy arrays and
    actions may be numpy arrays. Made by `envs.make_numpy_vec(env_id, num_envs, **kwargs)`."""

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        return _to_numpy(obs), _to_numpy(info)

    def step(self, actions):
        return tuple(_to_numpy(x) for x in self.env.step(actions))  # the env takes numpy actions as they are
