"""RedBerry's foraging worlds. `import envs` registers the Gymnasium ids.

| id                 | task                                                          |
| ------------------ | ------------------------------------------------------------- |
| `RedBerry-v0`      | red berries pay, every other colour costs; the goal is red    |
| `CuedBerry-v0`     | the target colour is drawn per episode and shown in the goal  |
| `ReversalBerry-v0` | two colours, the paying one switches at random; goal is zeros |

`gym.make(id)` gives a numpy `gymnasium.Env` (`BerryEnv`); `gym.make_vec(id, num_envs=N,
device=...)` gives a torch `BerryVectorEnv` on the device; `make_numpy_vec` gives the numpy one;
`sb3_vec_env` gives a Stable-Baselines3 VecEnv (with the `[sb3]` extra).
"""

from __future__ import annotations

import gymnasium as gym

from envs.berry_env import BerryEnv
from envs.config import DIFFICULTIES, DIFFICULTY_PRESETS, PALETTE_NAMES, WorldConfig, make_config
from envs.numpy_vector import NumpyVectorEnv
from envs.policies import normalized_score, random_actions, reference_returns, scripted_actions
from envs.vector import BerryVectorEnv

TASK_IDS = {"RedBerry-v0": "red", "CuedBerry-v0": "cued", "ReversalBerry-v0": "reversal"}
ENV_IDS = set(TASK_IDS)  # every id `import envs` registers


def check_env_id(env_id: str) -> str:
    """Return env_id if it names one of RedBerry's worlds, else raise ValueError listing them."""
    if env_id not in ENV_IDS:
        raise ValueError(f"env id {env_id!r} is not one of RedBerry's worlds; valid ids are {sorted(ENV_IDS)}")
    return env_id


def make_numpy_vec(env_id: str, num_envs: int = 1, **kwargs) -> NumpyVectorEnv:
    """A numpy VectorEnv for numpy-based libraries: `gym.make_vec` on the CPU, numpy at the boundary.

    Actions may be numpy arrays; observations, rewards, flags and infos come back as numpy.
    """
    check_env_id(env_id)
    kwargs.setdefault("device", "cpu")
    return NumpyVectorEnv(gym.make_vec(env_id, num_envs=num_envs, **kwargs))


def sb3_policy_kwargs(features_dim: int = 128) -> dict:
    """``policy_kwargs`` for SB3's "MultiInputPolicy" at the worlds' default 24x24 view, where its stock
    NatureCNN does not fit: `envs.sb3.SmallImageExtractor` (needs the `[sb3]` extra)."""
    from envs.sb3 import SmallImageExtractor

    return {"features_extractor_class": SmallImageExtractor, "features_extractor_kwargs": {"features_dim": features_dim}}


def sb3_vec_env(env_id: str, num_envs: int = 1, **kwargs):
    """A Stable-Baselines3 VecEnv over `gym.make_vec(env_id, num_envs, **kwargs)` (envs/sb3.py; needs
    the `[sb3]` extra). SB3's stock CNN needs `view_size=36` or more. MultiBerry-v0's num_envs counts
    arenas, so SB3 sees num_envs * num_agents envs."""
    from envs.sb3 import SB3VecEnv  # imported here: `import envs` never needs SB3

    check_env_id(env_id)
    return SB3VecEnv(gym.make_vec(env_id, num_envs=num_envs, **kwargs))


ENV_IDS.add("MultiBerry-v0")
if "MultiBerry-v0" not in gym.registry:
    gym.register(id="MultiBerry-v0", vector_entry_point="envs.multiberry:make_vector_env")

for _env_id, _task in TASK_IDS.items():
    if _env_id not in gym.registry:
        gym.register(
            id=_env_id,
            entry_point="envs.berry_env:BerryEnv",
            vector_entry_point="envs.vector:make_vector_env",
            kwargs={"task": _task},
        )

__all__ = [
    "BerryEnv", "BerryVectorEnv", "NumpyVectorEnv", "WorldConfig", "make_config", "make_numpy_vec", "sb3_policy_kwargs", "sb3_vec_env",
    "reference_returns", "normalized_score", "scripted_actions", "random_actions",
    "TASK_IDS", "ENV_IDS", "check_env_id", "DIFFICULTIES", "DIFFICULTY_PRESETS", "PALETTE_NAMES",
]
