"""Actions: the discrete action table, the action space, and the one check every env runs.

A discrete action a names a (linear, angular) velocity pair DISCRETE_ACTIONS[a]; a continuous
action is that pair itself, in [-1, 1], in units of `forward_speed` and `turn_speed`.

`ActionCheck` is the single validator behind BerryVectorEnv, BerryEnv, MultiBerryVectorEnv and
the PettingZoo env. It reads what is allowed from the env's action space (Discrete(n) or Box),
so no bound is written twice. Shape, dtype and device are checked on the host with no sync; values
are checked with one reduction, which costs one host sync on a device (envs can turn it off).

Values that are not checked cannot harm the worlds: `velocities`, the one place the core reads an
action, turns a discrete index outside the table into standing still, and a continuous NaN into 0
and anything outside [-1, 1] (infinities included) into the nearest bound, on the device.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from envs.config import WorldConfig

# Discrete actions: (linear, angular) in units of forward_speed and turn_speed.
ACTION_NAMES = ("forward", "turn left", "turn right", "forward-left", "forward-right")
DISCRETE_ACTIONS = ((1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 1.0), (1.0, -1.0))


def action_space(config: WorldConfig) -> spaces.Space:
    """One forager's action space: Discrete(5), or Box(-1, 1, (2,)) with action_type='continuous'."""
    if config.action_type == "discrete":
        return spaces.Discrete(len(DISCRETE_ACTIONS))
    return spaces.Box(-1.0, 1.0, (2,), np.float32)


STAND_STILL = (0.0, 0.0)  # what a discrete index outside the table does
_TABLES: dict[torch.device, torch.Tensor] = {}  # DISCRETE_ACTIONS + (STAND_STILL,) per device, made once


def action_table(device: torch.device) -> torch.Tensor:
    """(6, 2) float32 on ``device``: DISCRETE_ACTIONS, then STAND_STILL; made once per device (no copy per step)."""
    if device not in _TABLES:
        _TABLES[device] = torch.tensor(DISCRETE_ACTIONS + (STAND_STILL,), dtype=torch.float32, device=device)
    return _TABLES[device]


def velocities(config: WorldConfig, action: torch.Tensor) -> torch.Tensor:
    """Actions (B,) or (B, 2) -> (B, 2) float32 (linear, angular) in [-1, 1], whatever the values: a discrete
    index outside [0, 4] stands still; a continuous NaN counts as 0 and other values are clipped to [-1, 1].
    Actions inside the space pass unchanged. No host sync."""
    if config.action_type == "discrete":
        n = len(DISCRETE_ACTIONS)
        return action_table(action.device)[torch.where((action >= 0) & (action < n), action, n)]
    return torch.nan_to_num(action.to(torch.float32), nan=0.0).clamp_(-1.0, 1.0)


class ActionCheck:
    """Checks actions against one action space and returns them as a tensor on `device`.

    batch: the leading shape the env expects, (N,) for a vector env and () for a single one.
    Discrete actions come back as int64, Box actions as float32. Bad input raises TypeError (a
    dtype or type that cannot hold the action, or a tensor on the meta device, which holds no
    values) or ValueError (a shape, or a value outside the space, NaN included), naming the
    parameter, what was given and what is allowed. With check_values=False values are not read
    (no host sync); `velocities` then makes any value safe (module docstring).
    """

    def __init__(self, space: spaces.Space, batch: tuple[int, ...] = (), device: torch.device | str = "cpu"):
        if not isinstance(space, (spaces.Discrete, spaces.Box)):
            raise TypeError(f"space={space!r} must be a gymnasium Discrete or Box")
        self.space = space
        self.shape = tuple(batch) + tuple(space.shape)
        self.device = torch.device(device)
        self.discrete = isinstance(space, spaces.Discrete)
        if self.discrete:
            self.low, self.high = int(space.start), int(space.start + space.n - 1)
            self.allowed = f"integers in [{self.low}, {self.high}]"
        else:
            self.low = torch.as_tensor(space.low, device=self.device)
            self.high = torch.as_tensor(space.high, device=self.device)
            low, high = np.unique(space.low), np.unique(space.high)
            bounds = f"[{low[0]}, {high[0]}]" if len(low) == len(high) == 1 else f"[{space.low}, {space.high}]"
            self.allowed = f"finite floats in {bounds} (NaN is not allowed)"

    def __call__(self, actions, name: str = "actions", check_values: bool = True) -> torch.Tensor:
        tensor = self._as_tensor(actions, name)
        if tuple(tensor.shape) != self.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}; {self.space} needs shape {self.shape}")
        if self.discrete:
            fits = not (tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex())
        else:
            fits = tensor.is_floating_point()
        if not fits:
            raise TypeError(f"{name} has dtype {tensor.dtype}; {self.space} needs {self.allowed}")
        tensor = tensor.to(self.device, torch.int64) if self.discrete else tensor.to(self.device)
        if check_values:
            outside = ~((tensor >= self.low) & (tensor <= self.high))  # NaN fails both comparisons
            if bool(outside.any()):  # the one host sync
                raise self._out_of_range(name, tensor[outside][:4].tolist())
        return tensor if self.discrete else tensor.to(torch.float32)

    def _out_of_range(self, name: str, given: list) -> ValueError:
        return ValueError(f"{name} holds values out of range, such as {given}; {self.space} allows {self.allowed}")

    def _as_tensor(self, actions, name: str) -> torch.Tensor:
        if isinstance(actions, torch.Tensor):
            if actions.device.type == "meta":
                raise TypeError(f"{name} is a tensor on the meta device, which holds no values; {self.space} needs "
                                f"{self.allowed} of shape {self.shape}, on the CPU or the env's device ({self.device})")
            return actions
        array = np.asarray(actions)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}={actions!r} ({type(actions).__name__}) is not numeric; {self.space} needs "
                            f"{self.allowed} of shape {self.shape}")
        if array.dtype.kind == "u":  # torch lacks most ops on unsigned types: compare as int64
            if array.size and array.max() > np.iinfo(np.int64).max:
                raise self._out_of_range(name, [int(array.max())])
            array = array.astype(np.int64)
        return torch.tensor(array)  # a copy: the caller may reuse its array
