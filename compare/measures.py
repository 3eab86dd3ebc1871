"""Measures from neuroscience, taken while an agent is evaluated.

**Feature-similarity gain** (`fs_rho`, `fs_beta`). The feature-similarity gain model (Treue &
Martinez-Trujillo 1999; Lindsay & Miller 2018) says that attending to a feature scales each neuron's
gain by how much it prefers that feature: g_c = 1 + beta * u_c(cued colour). It is tested as the
physiology tests it, on every gain-modulated channel with no labels:

- tuning: each channel's response to one berry of each palette colour on the bare floor, minus its
  response to the floor alone, bottom-up with every gain 1 (`agents.probe.colour_tuning`); centred
  over the colours and scaled to [-1, 1] per channel, u_c(k);
- gain: each channel's mean gain over the evaluation's steps and worlds, per cued colour k (the
  colour the goal input names; under the goal lesion the wrong one shown; hidden goals are left
  out), centred over the cued colours, d_c(k) = G_c(k) - mean_k' G_c(k'). The centring removes
  what every cue shares, such as an overall gain that depends on the cue;
- per layer and cued colour, the Spearman correlation over channels of d(k) against u(k), and the
  least-squares slope of d(k) on u(k), which estimates beta; `fs_rho` and `fs_beta` average them over
  the cued colours and the layers (`fs_rho_conv1`, ... per layer);
- `fs_p`: a channel-shuffle null (the tuning's channels permuted, `FS_NULL_DRAWS` draws, the same
  seed every time): the share of draws whose mean correlation reaches the observed one.

0 is no feature-based gain; > 0 is the model's signature. An untrained net's value is its own
reference (`untrained`, evaluated beside the lesions in `compare.grid`, though not a lesion), and the spread over seeds gives the CI. In the
`cue_change` condition the cue switches halfway: `fs_rho_before` toward the first cue, `fs_rho_after`
toward the new one, `fs_rho_after_old_cue` toward the first cue after the switch; gains that follow
the cue keep `fs_rho_after` > 0 and turn `fs_rho_after_old_cue` negative (a colour's centred tuning
is anti-correlated with the others' on average).

**Spatial attention index** (`spatial_index`): the mean spatial gain on target-berry pixels / the
mean elsewhere, pooled over steps and worlds (`agents.probe.spatial_sums`); 1 is none.

**Reversal curve.** On ReversalBerry, the precision (targets / berries eaten) against the steps
since the paying colour last switched, in bins of `REVERSAL_BIN` steps, the last open-ended
(`reversal_precision_0` for 0-9 steps, ..., `reversal_precision_90` for 90 or more), with the
berries eaten in each bin beside it (`reversal_eaten_<lo>`). A berry eaten at step t counts with
the steps since the switch that made the colour it was judged by; berries eaten before an
episode's first switch are not in the curve (the agent had no colour to unlearn).

**Set-size curve.** Search time against the number of distractors, from the `setsize_D`
conditions (`compare.grid`), where two targets are among D distractors: the steps to the first
target eaten before any distractor (`clean_steps_to_first_target`, `compare.evaluate`), an episode
whose first berry was a distractor, or that ate no target, counting as its full length (censored),
with the share of episodes whose first berry was a distractor beside it. The plain steps to the
first target are kept too; they reward a forager that eats through distractors.

**Accuracy against T.** The precision (targets / berries eaten) and the normalised score of
feedback agents evaluated with T = 1, 2, ... passes per step, on easy and hard worlds.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

TUNING_METHOD = (
    "A channel's colour tuning is measured bottom-up with `agents.probe.colour_tuning`: one berry of each palette "
    "colour is drawn at the centre of the bare floor, each image goes through the agent's conv layers with every "
    "top-down gain at 1, and the channel's response to a colour is its mean activation to that berry minus its "
    "response to the bare floor; centred over the colours and scaled to [-1, 1] per channel. Every channel counts.")
FS_NULL_DRAWS = 500  # channel permutations of the shuffle null
FS_NULL_SEED = 0


def centred_tuning(tuning: torch.Tensor) -> torch.Tensor:
    """(C, P) responses -> u (C, P): centred over the colours, each channel scaled to [-1, 1] (0 where flat)."""
    centred = tuning.double() - tuning.double().mean(1, keepdim=True)
    return centred / centred.abs().amax(1, keepdim=True).clamp_min(1e-12)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks along the last dim (ties broken by order; gains and tunings are continuous)."""
    return x.argsort(-1).argsort(-1).double()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last dim (NaN where one side is constant)."""
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))


def feature_similarity(gain: torch.Tensor, u: torch.Tensor, null_draws: int = FS_NULL_DRAWS) -> dict[str, torch.Tensor]:
    """The measure for one layer. gain (K, C): the mean gain of each channel under each of K >= 2 cued
    colours; u (K, C): each channel's centred tuning to those colours. Returns rho and beta (mean over
    the cued colours) and `null` (null_draws,), the mean rho with the channels of u shuffled. Gains that
    do not vary with the cue (all 1 under the feedback lesion) have no correlation: NaN."""
    d = gain.double() - gain.double().mean(0, keepdim=True)
    if float(d.abs().max()) < 1e-9:  # only rounding would be ranked
        nan = torch.tensor(math.nan, dtype=torch.float64)
        return {"rho": nan, "beta": torch.zeros((), dtype=torch.float64), "null": nan.expand(null_draws)}
    rho = _correlation(_ranks(d), _ranks(u))  # (K,)
    beta = (d * u).sum(1) / (u * u).sum(1).clamp_min(1e-12)
    generator = torch.Generator().manual_seed(FS_NULL_SEED)
    perms = torch.rand(null_draws, u.shape[1], generator=generator).argsort(1)  # (B, C)
    shuffled = u[:, perms].permute(1, 0, 2)  # (B, K, C)
    null = _correlation(_ranks(d)[None], _ranks(shuffled)).mean(1)  # (B,)
    return {"rho": rho.mean(), "beta": beta.mean(), "null": null}


class FeatureGainRecorder:
    """Accumulates on the device each channel's gain per cued colour, per phase, for the
    feature-similarity measure (module doc).

    `record` adds one step's gains to one or more named phases ("" is every step); `result` gives
    `fs_rho`, `fs_beta`, `fs_p` and the per-layer values for "", and `fs_rho_<phase>` for the others.
    """

    def __init__(self, tuning: dict[str, torch.Tensor], device: torch.device):
        self.layers = list(tuning)
        self.u = {layer: centred_tuning(t).to(device) for layer, t in tuning.items()}  # (C, P)
        self.device = device
        self.sums: dict[str, dict[str, torch.Tensor]] = {}  # phase -> layer -> (P, C) summed gains
        self.counts: dict[str, torch.Tensor] = {}  # phase -> (P,) steps x worlds per cued colour

    def record(self, internals: dict[str, torch.Tensor], colour: torch.Tensor, phases=("",)) -> None:
        """internals["channel_gain/convK"] (N, C); colour (N,) the cued colour, -1 where there is none."""
        palette = next(iter(self.u.values())).shape[1]
        onehot = torch.nn.functional.one_hot(colour.clamp_min(0), palette).double() * (colour >= 0)[:, None]  # (N, P)
        step = {layer: onehot.T @ internals[layer].double() for layer in self.layers}  # (P, C)
        count = onehot.sum(0)
        for phase in phases:
            if phase in self.sums:
                for layer in self.layers:
                    self.sums[phase][layer] += step[layer]
                self.counts[phase] += count
            else:
                self.sums[phase], self.counts[phase] = {k: v.clone() for k, v in step.items()}, count.clone()

    def result(self) -> dict[str, float]:
        """{"fs_rho", "fs_beta", "fs_p", "fs_rho_conv1", "fs_beta_conv1", ..., "fs_rho_<phase>"}; NaN where
        fewer than two colours were cued."""
        out: dict[str, float] = {}
        for phase, sums in self.sums.items():
            seen = (self.counts[phase] > 0).nonzero().flatten().cpu()
            if len(seen) < 2:
                continue
            counts = self.counts[phase].cpu()[seen, None]
            layers = {layer: feature_similarity(sums[layer].cpu()[seen] / counts, self.u[layer].cpu()[:, seen].T)
                      for layer in self.layers}
            suffix = f"_{phase}" if phase else ""
            out["fs_rho" + suffix] = float(torch.stack([v["rho"] for v in layers.values()]).nanmean())
            if phase:
                continue
            out["fs_beta"] = float(torch.stack([v["beta"] for v in layers.values()]).mean())
            null = torch.stack([v["null"] for v in layers.values()]).nanmean(0)
            if not math.isnan(out["fs_rho"]):
                out["fs_p"] = float(((null >= out["fs_rho"]).sum() + 1) / (len(null) + 1))
            for layer, v in layers.items():
                name = layer.split("/", 1)[1]
                out[f"fs_rho_{name}"], out[f"fs_beta_{name}"] = float(v["rho"]), float(v["beta"])
        for key in ("fs_rho", "fs_beta", "fs_p"):
            out.setdefault(key, math.nan)
        return out


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
