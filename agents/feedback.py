"""Top-down feedback gain on the early conv layers (the feature-similarity gain model).

For a conv layer's output F (N, C, h, w) and a top-down signal z:

    F' = F * g(z)[:, :, None, None] * s(z, F)
    g(z)    = relu(1 + beta   * tanh(W_g z))                        channel (feature-based) gain
    s(z, F) = relu(1 + beta_s * tanh(conv1x1(F; q(z)) / sqrt(C) + b(z)))   spatial gain map (N, h, w)
    [q(z), b(z)] = W_q z                                            a goal-dependent 1x1 kernel
    z       = relu(W_z [goal, h(t-1), top(k-1)])

The channel gain boosts the features that match the goal and damps the others (Lindsay & Miller
2018, eLife, "How biological attention mechanisms improve task performance in a large-scale
visual system model"; as a per-channel scale it is FiLM, Perez et al. 2018, without the shift).
The spatial map is a 1x1 convolution whose kernel q(z) is set top-down: at each location it
scores how well the local feature vector matches what the goal asks for, so the map lights up
where goal-matching features are (the spatial half of the same gain model). ``top(k-1)`` are the
top features of the previous pass; with T passes per step, pass k uses gains from pass k-1, and
pass 1 uses the last pass of the previous step (carried in the agent's state): the bottom-up,
lateral, top-down (BLT) iteration of Spoerer, McClure & Kriegeskorte 2017, Frontiers in
Psychology, "Recurrent convolutional neural networks: a better model of biological object
recognition".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from agents.init import layer_init


class Gains:
    """The gains of one pass: a ``modulate(layer, F) -> F'`` callback for ``ConvTrunk``.

    Records each modulated layer's spatial map, (N, h, w), as it is applied.
    """

    def __init__(self, module: "TopDownGain", channel: list[torch.Tensor], query: list[torch.Tensor]):
        self.module = module
        self.channel = channel  # per modulated layer: (N, C_l)
        self.query = query  # per modulated layer: (N, C_l + 1), the 1x1 kernel and a bias
        self.spatial: list[torch.Tensor] = []  # per modulated layer: (N, h_l, w_l)

    def __call__(self, index: int, features: torch.Tensor) -> torch.Tensor:
        if index >= len(self.channel):
            return features
        n, c, h, w = features.shape
        kernel, bias = self.query[index][:, :c], self.query[index][:, c:]  # (N, C), (N, 1)
        # conv1x1 with a per-sample kernel = a batched matrix product over channels.
        logits = torch.bmm(kernel.unsqueeze(1), features.reshape(n, c, h * w))[:, 0] / c**0.5 + bias  # (N, hw)
        spatial = F.relu(1.0 + self.module.beta_s * torch.tanh(logits)).view(n, h, w)
        self.spatial.append(spatial)
        return features * self.channel[index][:, :, None, None] * spatial[:, None]


class TopDownGain(nn.Module):
    """z = relu(W_z [goal, h(t-1), top]); g = relu(1 + beta tanh(W_g z)); s and q as in the module doc."""

    def __init__(self, in_size: int, channels: tuple[int, ...], width: int, beta: float, beta_s: float):
        super().__init__()
        self.channels = tuple(channels)
        self.beta = beta
        self.beta_s = beta_s
        self.signal = layer_init(nn.Linear(in_size, width))  # W_z
        # Small initial weights: gains start near 1 (plain CNN) but not at exactly 1, so every
        # parameter gets a gradient from the first update.
        self.channel = layer_init(nn.Linear(width, sum(channels)), std=0.5)  # W_g
        self.query = layer_init(nn.Linear(width, sum(channels) + len(channels)), std=0.5)  # W_q

    def forward(self, goal: torch.Tensor, core: torch.Tensor | None, top: torch.Tensor) -> Gains:
        """goal (N, P), core h(t-1) (N, D) or None, top features of the previous pass (N, E)."""
        inputs = [goal, top] if core is None else [goal, core, top]
        z = F.relu(self.signal(torch.cat(inputs, dim=1)))  # (N, width)
        channel = F.relu(1.0 + self.beta * torch.tanh(self.channel(z)))  # (N, sum C)
        query = self.query(z)  # (N, sum (C + 1))
        return Gains(
            self, list(channel.split(self.channels, dim=1)), list(query.split([c + 1 for c in self.channels], dim=1))
        )
