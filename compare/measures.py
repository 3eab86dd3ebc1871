"""Measures from neuroscience, taken while an agent is evaluated.

**Attention modulation index (AMI).** The feature-similarity gain model (Treue & Martinez-Trujillo
1999; Lindsay & Miller 2018) predicts that attending to a feature raises the gain of neurons that
prefer it and lowers the gain of the others. Each gain-modulated conv channel's preferred colour
is measured bottom-up by `agents.probe.preferred_colours` (one berry of each palette colour on the
bare floor, no top-down gain; a channel's preference is its mean response to the berry minus its
response to the bare floor, and channels with no clear preference are left out). During the
evaluation episodes, at every step and in every world, the channel gains g are split into the
channels that prefer the colour that pays now and the labelled channels that prefer another
colour; over all steps, worlds and channels

    AMI = (mean g_preferring - mean g_other) / (mean g_preferring + mean g_other),

per gain-modulated layer, and `ami` is the mean over layers. 0 is no feature-based modulation
(as under the feedback lesion, where every gain is 1); > 0 is the model's signature. Where no
channel prefers the target colour, or none prefers another, the index is NaN.

**Set-size curve.** The steps to the first target eaten, against the number of distractors, from
the `setsize_D` conditions (`compare.grid`), where two targets are among D distractors. An
episode that eats no target counts as its full length (censored), and the share of episodes
that found one is reported beside it.

**Accuracy against T.** The precision (targets / berries eaten) and the normalised score of
feedback agents evaluated with T = 1, 2, ... passes per step, on easy and hard worlds.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

PREFERENCE_METHOD = (
    "A channel's preferred colour is measured bottom-up with `agents.probe.preferred_colours`: one berry of each "
    "palette colour is drawn at the centre of the bare floor, each image goes through the agent's conv layers with "
    "every top-down gain at 1, and a channel's preference for a colour is its mean response to that berry minus "
    "its response to the bare floor. The argmax is the channel's preferred colour where its best response is at "
    "least 5% of the layer's largest and beats the runner-up by 10%; other channels are left out.")


class GainRecorder:
    """Accumulates, on the device, the channel gains of target-preferring and other channels."""

    def __init__(self, preferred: dict[str, list[Optional[int]]], device: torch.device):
        self.layers = list(preferred)
        self.preferred = {layer: torch.tensor([-1 if c is None else c for c in colours], device=device)
                          for layer, colours in preferred.items()}  # (C,) palette index, -1 unlabelled
        # Per layer: sum of preferring gains, their count, sum of other gains, their count.
        self.sums = torch.zeros(len(self.layers), 4, dtype=torch.float64, device=device)

    def record(self, internals: dict[str, torch.Tensor], target_colour: torch.Tensor) -> None:
        """internals["channel_gain/convK"] (N, C); target_colour (N,) the colour that pays now."""
        rows = []
        for layer in self.layers:
            gain = internals[layer].double()  # (N, C)
            colours = self.preferred[layer][None, :]  # (1, C)
            preferring = colours == target_colour[:, None]  # (N, C)
            other = (colours >= 0) & ~preferring
            rows.append(torch.stack([(gain * preferring).sum(), preferring.sum().double(),
                                     (gain * other).sum(), other.sum().double()]))
        self.sums += torch.stack(rows)

    def result(self) -> dict[str, float]:
        """{"ami": mean over layers, "ami_conv1": ..., ...}; NaN where undefined."""
        out, values = {}, []
        for layer, (pref_sum, pref_n, other_sum, other_n) in zip(self.layers, self.sums.tolist()):
            if pref_n > 0 and other_n > 0:
                preferring, other = pref_sum / pref_n, other_sum / other_n
                index = (preferring - other) / (preferring + other) if preferring + other > 0 else math.nan
            else:
                index = math.nan
            out["ami_" + layer.split("/", 1)[1]] = index
            if not math.isnan(index):
                values.append(index)
        out["ami"] = sum(values) / len(values) if values else math.nan
        return out
