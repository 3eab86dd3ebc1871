"""Memory checked before it is spent: what a run's rollout and PPO's replay need, against what the
machine (or the process's address-space limit, or the GPU) has free.

The replay dominates: backward keeps every activation of a minibatch of num_envs / num_minibatches
worlds x num_steps steps. What one sample keeps is measured, not guessed: one agent step runs on a few
real observations under `torch.autograd.graph.saved_tensors_hooks`, counting the bytes autograd saves,
at two batch sizes (the slope is per sample; the weights, saved once, cancel out). Measured against a
real run (`feedback`, 24x24 view, 16 steps, 4 minibatches, one update): the probe finds 62 KB a sample,
and the estimate is 13.7 GB at 40,000 worlds, whose peak RSS was 12.9 GB, and 4.2 GB at 10,000, which
peaked at 4.7 GB. Runs far below the free memory skip the probe.
"""

from __future__ import annotations

import os
import resource
from typing import Optional

import torch

import envs
from agents.runner import Carry
from training.build import make_agent, make_env
from training.config import Config, ConfigError

OVERHEAD = 1.15  # what the probe does not see (gradients, the optimiser, allocator slack), on top
BASE_BYTES = 2 ** 30  # the interpreter, torch, the reference foragers and the worlds' fixed tables
PROBE_WORLDS = (2, 8)
UPPER_BYTES_PER_SAMPLE = 2 ** 20  # far above any preset's (the full agent keeps ~120 KB at a 24x24 view)


def available_bytes(device: torch.device) -> Optional[int]:
    """Free memory for the run's tensors: the GPU's free memory on CUDA; on the CPU the smaller of
    MemAvailable (Linux) and what the address-space limit leaves. None where neither can be read."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    free = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            used = 0
        free.append(max(0, limit - used))
    return min(free) if free else None


def saved_bytes_per_sample(agent: torch.nn.Module, obs: dict[str, torch.Tensor], device: torch.device) -> float:
    """Bytes autograd keeps per sample for one step of ``agent`` (the slope between two batch sizes)."""
    def saved(n: int) -> int:
        total, seen = [0], set()

        def pack(t: torch.Tensor) -> torch.Tensor:
            if not isinstance(t, torch.nn.Parameter) and t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                total[0] += t.numel() * t.element_size()
            return t

        rows = {k: v[:n] for k, v in obs.items()}
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            Carry.start(agent, n, device).act(agent, rows)
        return total[0]

    small, large = PROBE_WORLDS
    return max(0.0, (saved(large) - saved(small)) / (large - small))


def check_memory(config: Config, device: torch.device, agent_config: Optional[dict] = None) -> None:
    """Raise ConfigError, naming the size and the flags to lower, when a run of ``config`` would need more
    memory than is free. Builds a few worlds only."""
    free = available_bytes(device)
    if free is None:
        return
    view = config.view_size or int(config.env_kwargs.get("view_size", 24))
    bound = config.num_envs * config.num_steps * (view / 24) ** 2 * UPPER_BYTES_PER_SAMPLE
    if config.env in envs.MULTI_IDS:
        bound *= int(config.env_kwargs.get("num_agents", 8))
    if bound < free / 2:  # far from the limit: no probe
        return

    probe = make_env(config, PROBE_WORLDS[1], device)
    try:
        obs = probe.reset(seed=list(range(config.seed, config.seed + PROBE_WORLDS[1])))[0]
        foragers = probe.num_envs // PROBE_WORLDS[1]  # MultiBerry: foragers per arena
        agent = make_agent(config, probe, agent_config).to(device)
        per_sample = saved_bytes_per_sample(agent, obs, device)
        stored = sum(v[0].numel() * v[0].element_size() for v in obs.values()) + 64  # + action, reward, value...
    finally:
        probe.close()
    samples = config.num_envs * foragers * config.num_steps
    need = OVERHEAD * (samples / config.num_minibatches * per_sample + samples * stored) + BASE_BYTES
    if need <= free:
        return
    worlds = max(1, int((free - BASE_BYTES) / (need - BASE_BYTES) * config.num_envs))
    gib = 2 ** 30
    where = "the GPU" if device.type == "cuda" else "this machine"
    raise ConfigError(
        f"--num-envs: got {config.num_envs}, whose rollout and PPO replay need about {need / gib:.1f} GiB "
        f"({config.num_steps} steps, {config.num_minibatches} minibatches), and {where} has {free / gib:.1f} GiB "
        f"free; allowed: about {worlds} worlds or fewer, or more --num-minibatches or a shorter --num-steps")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (numpy's, torch's CPU or CUDA allocator, C++'s)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "bad_alloc", "Cannot allocate memory"))


def out_of_memory_message(exc: BaseException) -> str:
    """One line for an allocation that failed, with what to lower."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return (f"out of memory ({first}); allowed: fewer worlds (--num-envs), more --num-minibatches or a shorter "
            f"--num-steps")
