"""Measures from neuroscience, taken while an agent is evaluated.

**Attention modulation index (AMI).** The feature-similarity gain model (Treue & Martinez-Trujillo
1999; Lindsay & Miller 2018) predicts that attending to a feature raises the gain of neurons that
prefer it and lowers the gain of the others. It is measured toward the *cued* colour: the colour
the agent's goal input names (under the goal lesion, the wrong colour it is shown), not the one
that pays; worlds whose goal is all zeros (ReversalBerry) are left out. Each gain-modulated conv channel's preferred colour
is measured bottom-up by `agents.probe.preferred_colours` (one berry of each palette colour on the
bare floor, no top-down gain; a channel's preference is its mean response to the berry minus its
response to the bare floor, and channels with no clear preference are left out). During the
evaluation episodes, at every step and in every world, the channel gains g are split into the
channels that prefer the cued colour and the labelled channels that prefer another colour; over
all steps, worlds and channels

    AMI = (mean g_preferring - mean g_other) / (mean g_preferring + mean g_other),

per gain-modulated layer, and `ami` is the mean over layers. 0 is no feature-based modulation
(as under the feedback lesion, where every gain is 1); > 0 is the model's signature. Where no
channel prefers the cued colour, or none prefers another, the index is NaN. In the `cue_change`
condition the cue switches halfway: `ami_before` is measured before the switch toward the first
cue, `ami_after` after it toward the new cue, and `ami_after_old_cue` after it toward the first
cue. Gains that follow the cue keep `ami_after` > 0 and turn `ami_after_old_cue` negative.

**Spatial attention index** (`spatial_index`): the mean spatial gain on target-berry pixels / the
mean elsewhere, pooled over steps and worlds (`agents.probe.spatial_sums`); 1 is none.

**Reversal curve.** On ReversalBerry, the precision (targets / berries eaten) against the steps
since the paying colour last switched, in bins of `REVERSAL_BIN` steps, the last open-ended
(`reversal_precision_0` for 0-9 steps, ..., `reversal_precision_90` for 90 or more), with the
berries eaten in each bin beside it (`reversal_eaten_<lo>`). A berry eaten at step t counts with
the steps since the switch that made the colour it was judged by; berries eaten before an
episode's first switch are not in the curve (the agent had no colour to unlearn).

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
    """Accumulates, on the device, the channel gains of cue-preferring and other channels.

    `record` adds one step's gains to one or more named phases ("" is every step); `result` gives
    the AMI per layer and overall for "" and the overall AMI of every other phase as `ami_<phase>`.
    """

    def __init__(self, preferred: dict[str, list[Optional[int]]], device: torch.device):
        self.layers = list(preferred)
        self.device = device
        self.preferred = {layer: torch.tensor([-1 if c is None else c for c in colours], device=device)
                          for layer, colours in preferred.items()}  # (C,) palette index, -1 unlabelled
        # Per phase and layer: sum of preferring gains, their count, sum of other gains, their count.
        self.sums: dict[str, torch.Tensor] = {}

    def record(self, internals: dict[str, torch.Tensor], colour: torch.Tensor, phases=("",)) -> None:
        """internals["channel_gain/convK"] (N, C); colour (N,) the colour the AMI is measured toward
        (the cued one), -1 where there is none (that world is left out of this step)."""
        rows = []
        for layer in self.layers:
            gain = internals[layer].double()  # (N, C)
            colours = self.preferred[layer][None, :]  # (1, C)
            cued = (colour >= 0)[:, None]  # (N, 1)
            preferring = (colours == colour[:, None]) & cued  # (N, C)
            other = (colours >= 0) & ~preferring & cued
            rows.append(torch.stack([(gain * preferring).sum(), preferring.sum().double(),
                                     (gain * other).sum(), other.sum().double()]))
        step = torch.stack(rows)  # (layers, 4)
        for phase in phases:
            self.sums[phase] = self.sums[phase] + step if phase in self.sums else step

    def result(self) -> dict[str, float]:
        """{"ami": mean over layers, "ami_conv1": ..., "ami_<phase>": ...}; NaN where undefined."""
        out = {}
        for phase, sums in self.sums.items():
            values = []
            for layer, row in zip(self.layers, sums.tolist()):
                index = modulation_index(*row)
                if not phase:
                    out["ami_" + layer.split("/", 1)[1]] = index
                if not math.isnan(index):
                    values.append(index)
            out["ami" + (f"_{phase}" if phase else "")] = sum(values) / len(values) if values else math.nan
        out.setdefault("ami", math.nan)
        return out


def modulation_index(pref_sum: float, pref_n: float, other_sum: float, other_n: float) -> float:
    """(mean g_preferring - mean g_other) / (their sum); NaN where a group is empty or both are 0."""
    if pref_n <= 0 or other_n <= 0:
        return math.nan
    preferring, other = pref_sum / pref_n, other_sum / other_n
    return (preferring - other) / (preferring + other) if preferring + other > 0 else math.nan


REVERSAL_BIN = 10  # steps per bin of the reversal curve
REVERSAL_BINS = 10  # bins: 0-9, 10-19, ..., 90+


class ReversalCurve:
    """Targets and distractors eaten by steps since the last switch of the paying colour, and whether
    reward steers the next choice (win-stay / lose-shift), on the device.

    Win-stay / lose-shift: after eating a berry of one colour of the pair, is the next berry eaten of the
    same colour? P(stay | the last berry paid) against P(stay | it cost). An agent that infers the paying
    colour from its rewards stays after a win and shifts after a loss, so the two differ; one that eats
    whatever is near stays at the same rate either way. It is the classic read-out of reversal learning; Wang et
    al. 2018 (Nat. Neurosci.) read their meta-RL agents' stay probabilities the same way.
    """

    def __init__(self, num_worlds: int, device: torch.device, colours: tuple[int, int]):
        self.since = torch.full((num_worlds,), -1, dtype=torch.int64, device=device)  # -1: no switch yet
        self.counts = torch.zeros(2, REVERSAL_BINS, dtype=torch.float64, device=device)  # targets, distractors
        self.target: Optional[torch.Tensor] = None
        self.pair_sum = int(colours[0]) + int(colours[1])  # the other colour of the pair is pair_sum - c
        self.last_colour = torch.full((num_worlds,), -1, dtype=torch.int64, device=device)  # -1: none eaten yet
        self.last_paid = torch.zeros(num_worlds, dtype=torch.bool, device=device)
        self.choices = torch.zeros(2, 2, dtype=torch.float64, device=device)  # [after a loss, after a win] x [n, stays]

    def before_step(self, target_colour: torch.Tensor) -> None:
        """target_colour (N,): the paying colour the coming step's berries are judged by."""
        self.target = target_colour.clone()

    def after_step(self, target_colour: torch.Tensor, info: dict) -> None:
        """target_colour (N,) after the step (a switch shows here); info: the step's target/distractor_eaten."""
        known = self.since >= 0
        bins = (self.since // REVERSAL_BIN).clamp(0, REVERSAL_BINS - 1)
        for row, key in enumerate(("target_eaten", "distractor_eaten")):
            self.counts[row].index_add_(0, bins, (info[key] * known).double())
        switched = target_colour != self.target
        self.since = torch.where(switched, 0, torch.where(known, self.since + 1, -1))
        # One berry of one kind this step (two at once, a rare tie, say nothing about the choice).
        paid, cost = info["target_eaten"] > 0, info["distractor_eaten"] > 0
        chose = paid ^ cost
        colour = torch.where(paid, self.target, self.pair_sum - self.target)
        follows = chose & (self.last_colour >= 0)
        stayed = (colour == self.last_colour) & follows
        win = self.last_paid.long()
        self.choices[:, 0].index_add_(0, win, follows.double())
        self.choices[:, 1].index_add_(0, win, stayed.double())
        self.last_colour = torch.where(chose, colour, self.last_colour)
        self.last_paid = torch.where(chose, paid, self.last_paid)

    def result(self) -> dict[str, float]:
        out = {}
        for index, (targets, distractors) in enumerate(zip(*self.counts.tolist())):
            eaten, low = targets + distractors, index * REVERSAL_BIN
            out[f"reversal_precision_{low}"] = targets / eaten if eaten > 0 else math.nan
            out[f"reversal_eaten_{low}"] = eaten
        (loss_n, loss_stay), (win_n, win_stay) = self.choices.tolist()
        out["stay_after_win"] = win_stay / win_n if win_n > 0 else math.nan
        out["stay_after_loss"] = loss_stay / loss_n if loss_n > 0 else math.nan
        out["choices_after_win"], out["choices_after_loss"] = win_n, loss_n
        return out
