"""Building a run's pieces from its `Config`: the device, the worlds, the agent, the references.

The trainer, the benchmark, the viewer and compare build through these functions, so a world or
an agent made for watching is exactly the one that was trained. Bad settings raise ConfigError
naming the flag.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Optional

import gymnasium as gym
import numpy as np
import torch

import agents
import envs  # registers the tasks
from common.flags import first_line
from common.heap import keep_freed_memory
from training.config import Config, ConfigError

# The policy's actions are valid by construction, so the env's per-step value check (a host
# sync) is off; copy=False skips a clone of each image, which the rollout storage copies anyway.
TRAINING_ENV_OPTIONS = {"copy": False, "validate_actions": False}


def prepare_cpu_process(processes_here: int = 1) -> None:
    """Set this process up to train: each training process on this machine gets its share of the
    cores, less one, and glibc keeps freed memory (`common.heap`) instead of faulting fresh pages
    in for every replay.

    torch's worker threads spin while they wait, so when the cores are oversubscribed (the
    TensorBoard event writer, a browser, another run) small convolutions slow down many times
    over: measured on a 2-core VM, 2 threads were 1.25x faster than 1 when idle and 20-80x slower
    beside one other busy process. So one core is left free, and a 2-core machine trains on one
    thread. OMP_NUM_THREADS, when set, rules, as glibc's MALLOC_* variables do for the heap.
    """
    keep_freed_memory()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // processes_here - 1))


def make_env(config: Config, num_envs: int, device: torch.device, **options):
    """gym.make_vec for the run's task and world settings; bad settings raise ConfigError.

    ``options`` go to the vector env as they are (the trainer passes `TRAINING_ENV_OPTIONS`). The
    env must declare next-step autoreset, the rule `agents.runner.Carry` steps agents by."""
    kwargs = config.env_make_kwargs()
    if config.env not in envs.ENV_IDS:  # other Gymnasium ids (CartPole-v1, ...) have no batched torch worlds
        raise ConfigError(f"--env: got {config.env!r}; allowed: {', '.join(sorted(envs.ENV_IDS))} (the trainer steps "
                          f"RedBerry's batched torch worlds, not other Gymnasium environments)")
    try:
        env = gym.make_vec(config.env, num_envs=num_envs, device=str(device), **options, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"world settings (--difficulty, --view-size, --max-episode-steps, --action-type, --env-kwargs "
            f"{kwargs}): {exc}"
        ) from None
    mode = env.metadata.get("autoreset_mode")
    if mode is None or mode.name != "NEXT_STEP":
        env.close()
        raise RuntimeError(f"{config.env}: the trainer needs AutoresetMode.NEXT_STEP, the env declares {mode}")
    return env


def make_agent(config: Config, env, agent_config: Optional[dict] = None) -> torch.nn.Module:
    """The agent preset with --agent-overrides (or, on resume, exactly the saved agent config), whose dopamine
    TD error discounts by the run's --gamma (a config saved with a gamma of its own keeps it: it trained so)."""
    if agent_config is not None:
        return agents.agent_from_config(agent_config, env.single_observation_space, env.single_action_space,
                                        gamma=config.gamma)
    presets = getattr(agents, "PRESETS", None)
    if presets is not None and config.agent not in presets:
        raise ConfigError(f"--agent: got {config.agent!r}; allowed: {', '.join(presets)}")
    try:
        return agents.make_agent(config.agent, env.single_observation_space, env.single_action_space,
                                 gamma=config.gamma, **config.agent_make_overrides())
    except (ValueError, TypeError, RuntimeError) as exc:  # torch's own errors carry a C++ stack: its first line
        where = f"--agent-overrides {config.agent_overrides}" if config.agent_overrides else f"--agent {config.agent}"
        raise ConfigError(f"{where}: {first_line(exc)}") from None


class _CompiledOrEager:
    """A method run through ``torch.compile`` (inductor); if compiling it fails, it warns once and runs
    the method eagerly from then on, so a machine without a working compiler still trains."""

    def __init__(self, method, name: str):
        self.eager, self.name, self.failed = method, name, False
        self.compiled = torch.compile(method, dynamic=False)

    def __call__(self, *args):
        if not self.failed:
            try:
                return self.compiled(*args)
            except Exception as exc:  # inductor's failures have many types (a missing compiler, an unsupported op)
                self.failed = True
                warnings.warn(f"--compile: torch.compile of the agent's {self.name} failed ({first_line(exc)}); "
                              f"running it eagerly", RuntimeWarning, stacklevel=2)
        return self.eager(*args)


def compile_agent(agent: torch.nn.Module) -> torch.nn.Module:
    """``agent`` with its `encode`, `advance` and `heads` compiled (forward calls all three through `step`,
    PPO's replay each), in place. Parameters, state dict and checkpoints are unchanged; each new batch shape
    compiles once."""
    for name in ("encode", "advance", "heads"):
        setattr(agent, name, _CompiledOrEager(getattr(agent, name), name))
    return agent


def action_bounds(env) -> tuple[float, float]:
    """The box `agents.runner.env_action` clips continuous samples to (discrete ones pass as they are)."""
    space = env.single_action_space
    if not hasattr(space, "low"):
        return -math.inf, math.inf
    return float(np.min(space.low)), float(np.max(space.high))


def action_example(env, device: torch.device) -> torch.Tensor:
    """Zeros shaped and typed like one step's batched action, (N,) long or (N, A) float."""
    space = env.single_action_space
    if hasattr(space, "n"):
        return torch.zeros(env.num_envs, dtype=torch.long, device=device)
    return torch.zeros((env.num_envs, *space.shape), dtype=torch.float32, device=device)


def reference_returns(config: Config, device: torch.device) -> dict:
    """Mean episodic returns of the random and scripted reference policies on the run's worlds,
    which forage/normalized_score is measured against. Leaves torch's RNG untouched."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        ref = envs.reference_returns(config.env, num_envs=32, seed=config.seed + 1_000_000, device=str(device),
                                     **config.env_make_kwargs())
    return {"random": float(ref["random"]), "scripted": float(ref["scripted"])}
