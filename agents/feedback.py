"""Top-down feedback gain on the early conv layers (the feature-similarity gain model).

For a conv layer's output F (N, C, h, w) and a top-down signal z:

    F' = F * g(z)[:, :, None, None] * s(z, F)
    g(z)    = relu(1 + beta * tanh(W_g z + T_g goal))               channel (feature-based) gain
    m(z, F) = 1 + beta_s * tanh(conv1x1(F; q(z)) / sqrt(C))         attention field (N, h, w)
    s(z, F) = m / mean_{x,y}(m)                                     spatial gain, mean 1 over the map
    q(z)    = W_q z + T_q goal                                      a goal-dependent 1x1 kernel
    z       = relu(W_z [goal, h(t-1), top(k-1)])

T_g and T_q are the goal's own feature template (AgentConfig.goal_template > 0, 0.5 by default): a
linear map of the goal straight into the channel gain and the query, beside the path through z,
so a cue acts on the gains from the first update.

The channel gain boosts the features that match the goal and damps the others (Lindsay & Miller
2018, eLife, "How biological attention mechanisms improve task performance in a large-scale
visual system model"; as a per-channel scale it is FiLM, Perez et al. 2018, without the shift).
The spatial map is a 1x1 convolution whose kernel q(z) is set top-down: at each location it
scores how well the local feature vector matches what the goal asks for, so the map lights up
where goal-matching features are (the spatial half of the same gain model). The map is divided by
its mean, so attention redistributes a fixed budget of gain over the map instead of inflating it
everywhere. The idea comes from the normalisation model of attention (Reynolds & Heeger 2009,
Neuron), where the attention field multiplies the stimulus drive before divisive normalisation by
a suppressive pool; dividing by the map's mean is a budget, not that model (unnormalised, the map saturated at its ceiling at every pixel, a
global gain rather than spatial attention). ``top(k-1)`` are the
top features of the previous pass; with T passes per step, pass k uses gains from pass k-1, and
pass 1 uses the last pass of the previous step (carried in the agent's state): the bottom-up,
lateral, top-down (BLT) iteration of Spoerer, McClure & Kriegeskorte 2017, Frontiers in
Psychology, "Recurrent convolutional neural networks: a better model of biological object
recognition". One step (`TopDownGain.iterate`):

    top_0 = top(t-1)                                    0 where an episode starts
    for k = 1..T:
        gains_k = g, s (z(goal, h(t-1), top_{k-1}))
        top_k   = Top(ConvTrunk(x, gains_k))            the vision the agent passes in
    top(t) = top_T

The lesions are the module's own switch, ``cut``: "all" fixes every gain at 1 (the trunk is
bottom-up only), and "goal", "core" or "top" zeroes that input of z (the goal in the template too).
"""

from __future__ import annotations

from typing import Callable, Optional

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
        self.query = query  # per modulated layer: (N, C_l), the 1x1 kernel
        self.spatial: list[torch.Tensor] = []  # per modulated layer: (N, h_l, w_l)

    def __call__(self, index: int, features: torch.Tensor) -> torch.Tensor:
        if index >= len(self.channel):
            return features
        out, spatial = apply_gain(features, self.channel[index], self.query[index], self.module.beta_s)
        self.spatial.append(spatial)
        return out


def apply_gain(features: torch.Tensor, channel: torch.Tensor, kernel: torch.Tensor, beta_s: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """F' = F * g * s (module doc) for one layer: features (N, C, h, w), channel gain g and query kernel q
    (N, C) -> (F', the spatial gain s (N, h, w))."""
    c = features.shape[1]
    # conv1x1 with a per-sample kernel: a product and a sum over channels, which keeps the features'
    # channels-last layout (a batched matrix product needed an (N, C, hw) copy, and was slower).
    logits = (features * kernel[:, :, None, None]).sum(dim=1) / c**0.5  # (N, h, w)
    field = 1.0 + beta_s * torch.tanh(logits)  # (N, h, w), > 0 for beta_s < 1
    spatial = field / field.mean(dim=(1, 2), keepdim=True)  # mean 1 over the map
    return features * channel[:, :, None, None] * spatial[:, None], spatial


CUTS = ("all", "goal", "core", "top")  # what a lesion cuts: every gain (fixed at 1), or one input of z


class TopDownGain(nn.Module):
    """z = relu(W_z [goal, h(t-1), top]) (or those of them `reads` names); g = relu(1 + beta tanh(W_g z)); s and
    q as in the module doc; T = ``passes`` passes a step (`iterate`); ``cut``, one of `CUTS` or None, is the
    lesion, set by `Agent.set_lesion`."""

    def __init__(self, in_size: int, channels: tuple[int, ...], width: int, beta: float, beta_s: float,
                 goal_size: int = 0, template_std: float = 0.0, reads: tuple[str, ...] = ("goal", "core", "top"),
                 passes: int = 1):
        super().__init__()
        self.reads = tuple(reads)  # what z reads, of goal, core (h(t-1)) and top
        self.passes = passes
        self.cut: Optional[str] = None
        self.channels = tuple(channels)
        self.beta = beta
        self.beta_s = beta_s
        self.signal = layer_init(nn.Linear(in_size, width))  # W_z
        # Small initial weights: gains start near 1 (plain CNN) but not at exactly 1, so every
        # parameter gets a gradient from the first update.
        self.channel = layer_init(nn.Linear(width, sum(channels)), std=0.5)  # W_g
        self.query = layer_init(nn.Linear(width, sum(channels)), std=0.5)  # W_q
        self.template = None
        if template_std > 0:  # T: the goal's own feature template, straight into g and q
            self.template = nn.Linear(goal_size, 2 * sum(channels), bias=False)
            nn.init.normal_(self.template.weight, std=template_std)

    def forward(self, goal: torch.Tensor, core: torch.Tensor | None, top: torch.Tensor,
                cut: str | None = None) -> Gains:
        """goal (N, P), core h(t-1) (N, D) or None, top features of the previous pass (N, E); z reads those
        of them `reads` names (`AgentConfig.top_down_inputs`). `cut` ("goal", "core" or "top") zeroes that
        input for a lesion: the goal in z and in the template."""
        if cut == "goal":
            goal = torch.zeros_like(goal)
        given = {"goal": goal, "core": core, "top": top}
        inputs = [torch.zeros_like(given[name]) if name == cut else given[name] for name in self.reads]
        z = F.relu(self.signal(torch.cat(inputs, dim=1)))  # (N, width)
        channel_in, query = self.channel(z), self.query(z)  # (N, sum C) each
        if self.template is not None:
            t_channel, t_query = self.template(goal).chunk(2, dim=1)
            channel_in, query = channel_in + t_channel, query + t_query
        channel = F.relu(1.0 + self.beta * torch.tanh(channel_in))  # (N, sum C)
        return Gains(
            self, list(channel.split(self.channels, dim=1)), list(query.split(self.channels, dim=1))
        )

    def iterate(self, vision: Callable[[Optional[Gains]], torch.Tensor], goal: torch.Tensor,
                core: torch.Tensor | None, top: torch.Tensor) -> tuple[torch.Tensor, Optional[Gains]]:
        """T passes (module doc): ``vision(gains)`` runs the trunk under one pass's gains (None: bottom-up only)
        to the top features (N, E); ``top`` is the last pass of step t-1. Returns top_T and the gains of
        pass T, None where the lesion cuts them all."""
        gains = None
        for _ in range(self.passes):
            if self.cut != "all":
                gains = self(goal, core, top, self.cut)
            top = vision(gains)
        return top, gains

    def report(self, gains: Optional[Gains], first: torch.Tensor) -> dict[str, torch.Tensor]:
        """The internals of a step's last pass, detached: each modulated layer's channel gain (N, C_l) and
        conv1's spatial gain (N, h0, w0); all ones where the lesion cuts them (``first``, conv1's output, gives
        the shapes)."""
        if gains is None:
            channel = [first.new_ones(first.shape[0], c) for c in self.channels]
            spatial = first.new_ones(first.shape[0], *first.shape[2:])
        else:
            channel, spatial = gains.channel, gains.spatial[0]
        internals = {f"channel_gain/conv{index + 1}": gain.detach() for index, gain in enumerate(channel)}
        internals["spatial_gain"] = spatial.detach()
        return internals
