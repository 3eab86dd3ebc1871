"""Separate what (ventral) and where (dorsal) streams with top-down gates.

Both streams read the shared early conv map F (N, C, h, w):

    what  = max_{x,y} relu(conv3x3_what(F))                          (N, C_what)  what is here
    where = sum_{x,y} softmax_{x,y}(conv3x3_where(F))_k * (x, y)      (N, 2K)      where it is
    gamma = sigmoid(W_gate [goal, h(t-1)])                            (N, 2) = [gamma_what, gamma_where]
    top   = relu(W_top [gamma_what * what, gamma_where * where])      (N, embed)

The ventral stream pools over space, keeping identity and dropping position; the dorsal stream's
spatial softmax gives, for each of K keypoint channels, the expected image position (x, y) in
[-1, 1] of what that channel responds to (Ungerleider & Mishkin 1982 for the two streams; the
spatial-softmax keypoints of Levine, Finn, Darrell & Abbeel 2016, JMLR). The gates are computed
top-down from the goal and the core state and scale what each stream passes up. The what and where
lesions hold one gate at 0 (``held``), so that stream passes nothing up.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.init import layer_init


def spatial_softmax_keypoints(logits: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) logits -> (N, 2K) expected (x, y) per channel, coordinates in [-1, 1]."""
    n, k, h, w = logits.shape
    probs = torch.softmax(logits.reshape(n, k, h * w), dim=2).reshape(n, k, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=logits.device, dtype=logits.dtype)
    ys = torch.linspace(-1.0, 1.0, h, device=logits.device, dtype=logits.dtype)
    x = (probs.sum(dim=2) * xs).sum(dim=2)  # (N, K): marginal over rows, then E[x]
    y = (probs.sum(dim=3) * ys).sum(dim=2)  # (N, K)
    return torch.cat([x, y], dim=1)


class WhatWhere(nn.Module):
    """Two streams over a shared conv map, gated top-down (equations in the module doc).

    ``held``: the lesion, set by `Agent.set_lesion`: None, or the gate held at 0 (0 what, 1 where).
    """

    def __init__(
        self, in_channels: int, what_channels: int, keypoints: int, stride: int, gate_in: int, embed: int
    ):
        super().__init__()
        self.what_conv = layer_init(nn.Conv2d(in_channels, what_channels, 3, stride, padding=1))
        self.where_conv = layer_init(nn.Conv2d(in_channels, keypoints, 3, stride, padding=1))
        self.gate = layer_init(nn.Linear(gate_in, 2), std=1.0)
        self.top = layer_init(nn.Linear(what_channels + 2 * keypoints, embed))
        self.held: int | None = None

    def gates(self, goal: torch.Tensor, core: torch.Tensor | None) -> torch.Tensor:
        """(N, 2) in [0, 1]: [gamma_what, gamma_where] from the goal and h(t-1); the ``held`` one 0."""
        inputs = goal if core is None else torch.cat([goal, core], dim=1)
        gates = torch.sigmoid(self.gate(inputs))
        if self.held is not None:
            gates = gates * (torch.arange(2, device=gates.device) != self.held)  # no host list copied to the device
        return gates

    def streams(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, C, h, w) -> [what, where] (N, C_what + 2K), before the gates."""
        what = F.relu(self.what_conv(features)).amax(dim=(2, 3))  # (N, C_what)
        where = spatial_softmax_keypoints(self.where_conv(features))  # (N, 2K)
        return torch.cat([what, where], dim=1)

    def forward(self, streams: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """streams [what, where] (N, C_what + 2K), gates (N, 2) -> top features (N, embed)."""
        what, where = streams.split([self.what_conv.out_channels, 2 * self.where_conv.out_channels], dim=1)
        gated = torch.cat([what * gates[:, 0:1], where * gates[:, 1:2]], dim=1)
        return F.relu(self.top(gated))
