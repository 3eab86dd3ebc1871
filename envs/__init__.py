"""RedBerry's foraging worlds. `import envs` registers the Gymnasium ids.

| id                 | task                                                                  |
| ------------------ | --------------------------------------------------------------------- |
| `RedBerry-v1`      | red berries pay, every other colour costs; the goal is red            |
| `CuedBerry-v1`     | the target colour is drawn per episode and shown in the goal          |
| `ReversalBerry-v1` | two colours, the paying one hidden (its defaults: `envs.config`)      |
| `MultiBerry-v1`    | several foragers in one arena (PettingZoo too: `envs.multiberry`)     |

v1 (the default everywhere) grows berries only outside an exclusion zone around every forager and
never on another berry, and ReversalBerry-v1 honours `target_share`. The v0 ids keep the old rules
exactly (berries anywhere: a fifth of worlds started with one under the forager), so the stored
records in docs/data reproduce; `WorldConfig.version` holds which.

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

TASKS_BY_NAME = {"RedBerry": "red", "CuedBerry": "cued", "ReversalBerry": "reversal"}
ENV_VERSIONS = {f"{name}-v{v}": v for name in (*TASKS_BY_NAME, "MultiBerry") for v in (0, 1)}  # id -> rules
TASK_IDS = {f"{name}-v{v}": task for name, task in TASKS_BY_NAME.items() for v in (0, 1)}  # single-forager ids
MULTI_IDS = ("MultiBerry-v0", "MultiBerry-v1")
ENV_IDS = set(ENV_VERSIONS)  # every id `import envs` registers


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
    the `[sb3]` extra). SB3's stock CNN needs `view_size=36` or more. MultiBerry-v1's num_envs counts
    arenas, so SB3 sees num_envs * num_agents envs."""
    from envs.sb3 import SB3VecEnv  # imported here: `import envs` never needs SB3

    check_env_id(env_id)
    return SB3VecEnv(gym.make_vec(env_id, num_envs=num_envs, **kwargs))


def world_config(env_id: str, difficulty: str = "easy", **knobs) -> WorldConfig:
    """The validated WorldConfig of one of the single-forager ids, with its version's rules."""
    check_env_id(env_id)
    if "version" in knobs:
        raise ValueError(f"version={knobs['version']!r}: the id sets the version ({env_id}); allowed: another id's "
                         f"version, e.g. {env_id.rsplit('-v', 1)[0]}-v0")
    if env_id not in TASK_IDS:
        raise ValueError(f"env id {env_id!r} is not a single-forager world; valid ids are {sorted(TASK_IDS)}")
    return make_config(TASK_IDS[env_id], difficulty, version=ENV_VERSIONS[env_id], **knobs)


for _version in (0, 1):
    if f"MultiBerry-v{_version}" not in gym.registry:
        gym.register(id=f"MultiBerry-v{_version}", vector_entry_point="envs.multiberry:make_vector_env",
                     kwargs={"version": _version})

for _env_id, _task in TASK_IDS.items():
    if _env_id not in gym.registry:
        gym.register(
            id=_env_id,
            entry_point="envs.berry_env:BerryEnv",
            vector_entry_point="envs.vector:make_vector_env",
            kwargs={"task": _task, "version": ENV_VERSIONS[_env_id]},
        )

__all__ = [
    "BerryEnv", "BerryVectorEnv", "NumpyVectorEnv", "WorldConfig", "make_config", "make_numpy_vec", "sb3_policy_kwargs", "sb3_vec_env",
    "reference_returns", "normalized_score", "scripted_actions", "random_actions",
    "TASK_IDS", "ENV_IDS", "ENV_VERSIONS", "MULTI_IDS", "check_env_id", "world_config", "DIFFICULTIES", "DIFFICULTY_PRESETS", "PALETTE_NAMES",
]
