"""The core between vision and the heads: no memory, or a GRU.

    core="none":  c(t) = relu(W [top(t), goal, r(t-1), a(t-1)])                     an MLP layer, no memory
    core="gru":   h(t) = GRU([top(t), goal, r(t-1), a(t-1)], h(t-1)),  c(t) = h(t)  lateral recurrence

The GRU (Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder") is the
deep-learning kind of recurrence: a layer that feeds back into itself. The goal is concatenated
after the conv trunk here, for every preset, and so are the previous reward and action (the meta-RL
inputs of Wang et al. 2018 and Duan et al. 2016, on by default: ``AgentConfig.reward_input`` and
``action_input``), so all agents receive the same information.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.init import layer_init


class Core(nn.Module):
    """c(t) = relu(W x) (kind "none") or h(t) = GRUCell(x, h(t-1)) (kind "gru")."""

    def __init__(self, kind: str, in_size: int, hidden: int):
        super().__init__()
        self.kind = kind
        if kind == "gru":
            self.cell = nn.GRUCell(in_size, hidden)
            for name, param in self.cell.named_parameters():
                if "weight" in name:
                    nn.init.orthogonal_(param, 1.0)
                else:
                    nn.init.zeros_(param)
        else:
            self.cell = layer_init(nn.Linear(in_size, hidden))

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """x (N, in_size), h(t-1) (N, hidden) or None -> c(t) (N, hidden)."""
        if self.kind == "gru":
            return self.cell(x, h)
        return F.relu(self.cell(x))
