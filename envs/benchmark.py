"""Env throughput: the batched torch worlds against Gymnasium's SyncVectorEnv over single envs."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch


def _random_action_pool(env, steps: int, seed: int = 0) -> torch.Tensor:
    """Pre-drawn actions (steps, N[, 2]) so that timing measures the env, not the sampler."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    n = env.num_envs
    if env.config.action_type == "discrete":
        pool = torch.randint(0, env.single_action_space.n, (steps, n), generator=g)
    else:
        pool = torch.rand(steps, n, 2, generator=g) * 2 - 1
    return pool.to(env.device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


STEP_MODES = ("eager", "compiled", "captured")


def vector_steps_per_second(env_id: str, num_envs: int, device: str = "cpu", seconds: float = 2.0,
                            step: str = "eager", **env_kwargs) -> float:
    """Env steps per second (slots x steps / s) of a torch vector env, rendering included.

    For MultiBerry-v1, num_envs counts arenas and each step moves num_envs * num_agents foragers.
    step: "eager", "compiled" (`compile_step`; compiling happens in the warm-up) or "captured" (`capture_step`:
    one CUDA graph; without CUDA, its bookkeeping replayed eagerly, `envs.capture.EagerGraph`, a rehearsal).
    """
    if step not in STEP_MODES:
        raise ValueError(f"step={step!r}; allowed: one of {STEP_MODES}")
    env = gym.make_vec(env_id, num_envs=num_envs, device=device, copy=False, validate_actions=False,
                       **env_kwargs).unwrapped
    env.reset(seed=0)
    if step == "compiled":
        env.compile_step()
    elif step == "captured" and not env.capture_step():
        from envs.capture import CapturedStep, EagerGraph

        env._fast_step = CapturedStep(env, EagerGraph)
    pool = _random_action_pool(env, 64)
    for t in range(3):  # warm-up (a compile or a capture happens here)
        env.step(pool[t])
    _sync(env.device)
    fast = env._fast_step
    if fast is not None and getattr(fast, "failed", False):
        raise RuntimeError(f"step={step!r}: the {step} step fell back to eager steps (its warning says why)")
    steps, start = 0, time.perf_counter()
    while True:
        for t in range(16):
            env.step(pool[(steps + t) % 64])
        steps += 16
        _sync(env.device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps * env.num_envs / elapsed


def sync_steps_per_second(env_id: str, num_envs: int, seconds: float = 2.0, **env_kwargs) -> float:
    """Env steps per second of gymnasium.vector.SyncVectorEnv over num_envs single BerryEnvs."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    if env.single_action_space.shape == (2,):
        pool = [rng.uniform(-1, 1, (num_envs, 2)).astype(np.float32) for _ in range(64)]
    else:
        pool = [rng.integers(0, env.single_action_space.n, num_envs) for _ in range(64)]
    env.step(pool[0])
    steps, start = 0, time.perf_counter()
    while True:
        for t in range(4):
            env.step(pool[(steps + t) % 64])
        steps += 4
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            env.close()
            return steps * num_envs / elapsed
