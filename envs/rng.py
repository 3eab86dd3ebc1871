"""Counter-based random numbers, keyed by (seed, env index, step, draw).

A stateful generator would make env i's randomness depend on how many other envs share
it. Here every random number is a pure function of its key, so env i's trajectory depends only on
its own seed and step counter, whatever the batch size and whatever device runs it. The hash is
Chris Wellons' integer mixer (shift-xor-multiply rounds), computed on 32-bit values held in int64
tensors. Multipliers are below 2**31, so no product overflows int64, on the CPU or on CUDA.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

MASK32 = 0xFFFFFFFF
_MULTIPLIERS = (0x7FEB352D, 0x2C1B3C6D, 0x297A2D39)
_GOLDEN = 0x1E3779B9  # odd, below 2**31


def hash32(x: torch.Tensor) -> torch.Tensor:
    """Mix an int64 tensor of 32-bit values into uniformly spread 32-bit values (int64)."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * _MULTIPLIERS[0]) & MASK32
    x = x ^ (x >> 15)
    x = (x * _MULTIPLIERS[1]) & MASK32
    return x ^ (x >> 16)


def fold_seed(seed: int) -> int:
    """Reduce any Python int seed to 32 bits without discarding its high bits."""
    seed = int(seed)
    folded = 0
    while True:
        folded ^= seed & MASK32
        seed >>= 32
        if seed in (0, -1):
            return folded & MASK32


def world_seeds(seed, count: int, what: str = "num_envs") -> list[int]:
    """The seeds of ``count`` worlds from a reset's ``seed``: an int s gives world i the seed s + i; a
    list (or tuple or array) of ``count`` ints gives each world its own (a population's worlds are
    several runs' seed ranges side by side); None draws a fresh random base."""
    if seed is None:
        seed = secrets.randbits(32)
    if isinstance(seed, (list, tuple, np.ndarray)):
        bad = [s for s in seed if not _is_int(s) or s < 0]
        if bad:
            raise TypeError(f"seed list holds {bad[0]!r}; allowed: integers >= 0 (a float seed would be truncated)")
        seeds = [int(s) for s in seed]
        if len(seeds) != count:
            raise ValueError(f"seed has {len(seeds)} entries; a list seed needs {what}={count}")
        return seeds
    if _is_int(seed) and seed >= 0:
        return [int(seed) + i for i in range(count)]
    raise TypeError(f"seed={seed!r}; allowed: an integer >= 0, a list of {what} such integers, or None")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def step_key(seed: torch.Tensor, counter: torch.Tensor) -> torch.Tensor:
    """Per-env key for one step: seed (N,) int64 and step counter (N,) int64 -> (N,) int64."""
    return hash32(hash32(seed) ^ ((counter * _GOLDEN) & MASK32))


def uniform(key: torch.Tensor, draw: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform floats in [0, 1) of shape (N, *shape), one independent stream per (key, draw).

    key: (N,) int64 from `step_key`; draw: a small int naming what the numbers are for. Each hash
    gives two numbers of 16 bits, which is fine resolution for positions and probabilities here.
    """
    count = 1
    for s in shape:
        count *= s
    pairs = (count + 1) // 2
    index = torch.arange(pairs, device=key.device, dtype=torch.int64) * _MULTIPLIERS[2]  # (pairs,)
    base = hash32(key ^ ((draw * _GOLDEN) & MASK32))  # (N,)
    bits = hash32(base[:, None] + index[None, :])  # (N, pairs)
    halves = torch.stack([bits & 0xFFFF, bits >> 16], dim=-1).view(key.shape[0], 2 * pairs)[:, :count]
    return (halves.to(torch.float32) * (1.0 / 65536)).view(key.shape[0], *shape)
