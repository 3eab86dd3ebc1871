"""The statistics of a training run, summed on the device while the rollout is collected and read to
the host once per update, when they are logged (`training.logbook`).

`EpisodeStats`: means per full episode's worth of steps (return, berries, precision) and rates per step (reward,
targets and distractors per 100 steps). `InternalStats`: the means of the agent's mechanism
signals (``out.internals``) by TensorBoard tag; the spatial gain's mean, 1 by construction
(`agents.feedback`), is left out. (So is an episode's length where no forager can die,
`training.logbook`: every full episode then runs ``max_episode_steps``.)
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from agents.probe import spatial_index, spatial_sums

# (key in info["forage"], TensorBoard tag): means per full episode. Precision is pooled: sum target / sum eaten.
EPISODE_KEYS = (
    ("r", "charts/episodic_return"),
    ("l", "charts/episodic_length"),
    ("target_eaten", "forage/target_eaten"),
    ("distractor_eaten", "forage/distractor_eaten"),
)

# Per-step rates, logged every update from every step, whether or not an episode ended: they show
# learning from the first update on. (sum index, TensorBoard tag)
RATE_TAGS = (
    (0, "charts/reward_per_100_steps"),
    (1, "forage/targets_per_100_steps"),
    (2, "forage/distractors_per_100_steps"),
)


class EpisodeStats:
    """Sums of the full episodes that ended since the last `read`, and of the rewards and berries of
    every step since then.

    A first episode cut short to stagger the worlds' episode ends (``info["forage"]["staggered"]``,
    `envs.config.WorldConfig.stagger_start`) is no full episode. Given ``episode_steps`` (the full length
    T), it counts per step: as the fraction l / T of an episode, its return, berries and length added
    whole, so that every mean is per T steps' worth of episodes and the curves start with the first
    episode that ends (a shortened one's return alone would read as a poor full one). Without
    ``episode_steps`` it is left out of the means. Its steps count in the per-step rates either way."""

    def __init__(self, device: torch.device, episode_steps: Optional[int] = None):
        # [episode sums by EPISODE_KEYS..., episode count, reward, targets, distractors, steps]
        self.sums = torch.zeros(len(EPISODE_KEYS) + 5, device=device)
        self.episode_steps = episode_steps

    def record(self, info: dict, reward: Optional[torch.Tensor] = None) -> None:
        """Add this step's ``reward`` (N,) and berries, and the full episodes that ended this step
        (``info["_forage"]`` less the staggered ones); no host sync."""
        k = len(EPISODE_KEYS)
        if reward is not None:
            self.sums[k + 1] += reward.float().sum()
            self.sums[k + 2] += info["target_eaten"].float().sum()
            self.sums[k + 3] += info["distractor_eaten"].float().sum()
            self.sums[k + 4] += reward.numel()
        if "_forage" not in info:
            return
        episode = info["forage"]
        ended = info["_forage"]  # (N,) bool
        staggered = episode.get("staggered")  # (N,) bool, where the worlds stagger their first episodes
        weight = ended.float()  # the share of a full episode each ending episode counts as
        if staggered is not None:
            if self.episode_steps:
                weight = torch.where(staggered, episode["l"].float() / self.episode_steps, 1.0) * weight
            else:
                ended = ended & ~staggered
                weight = ended.float()
        values = torch.stack([episode[key].float() for key, _ in EPISODE_KEYS])  # (K, N)
        self.sums[:k] += values @ ended.float()
        self.sums[k] += weight.sum()

    def read(self, sums: Optional[torch.Tensor] = None) -> dict[str, float]:
        """Per-step rates and means per full episode, by tag (no episode tags if none ended); resets.

        ``sums`` replaces this process's sums (e.g. after an all-reduce over processes)."""
        values = (self.sums if sums is None else sums).tolist()
        self.sums.zero_()
        k = len(EPISODE_KEYS)
        rates, steps = values[k + 1:k + 4], values[k + 4]
        out = {tag: 100.0 * rates[i] / steps for i, tag in RATE_TAGS} if steps > 0 else {}
        count = values[k]
        if count <= 0:
            return out
        out.update({tag: values[i] / count for i, (_, tag) in enumerate(EPISODE_KEYS)})
        eaten = values[2] + values[3]
        if eaten > 0:
            out["forage/precision"] = values[2] / eaten
        return out


class InternalStats:
    """Running means of the agent's mechanism signals (``out.internals``), by TensorBoard tag.

    channel_gain/<layer> (N, C) -> attention/channel_gain/<layer> (mean) and
    attention/channel_gain_spread/<layer> (std across channels: how selective the gain is);
    spatial_gain (N, h, w) -> attention/spatial_gain_std (std across the map; its mean is 1 by
    construction); gates (N, 2) -> gating/what, gating/where; dopamine (N,) -> dopamine/delta and
    dopamine/delta_abs; trace_norm (N,) -> dopamine/trace_norm; anything else -> internals/<key>
    (mean). `record_spatial_index` adds attention/spatial_index for one step.
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.once: dict[str, torch.Tensor] = {}  # tags measured once per update, not averaged over steps

    @staticmethod
    def summarise(internals: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key, x in internals.items():
            x = x.detach().float()
            if key.startswith("channel_gain/"):
                layer = key.split("/", 1)[1]
                out[f"attention/channel_gain/{layer}"] = x.mean()
                out[f"attention/channel_gain_spread/{layer}"] = x.std(dim=1).mean() if x.shape[1] > 1 else x.new_zeros(())
            elif key == "spatial_gain":
                flat = x.flatten(1)
                out["attention/spatial_gain_std"] = flat.std(dim=1).mean() if flat.shape[1] > 1 else x.new_zeros(())
            elif key == "gates":
                out["gating/what"] = x[:, 0].mean()
                out["gating/where"] = x[:, 1].mean()
            elif key == "dopamine":
                out["dopamine/delta"] = x.mean()
                out["dopamine/delta_abs"] = x.abs().mean()
            elif key == "trace_norm":
                out["dopamine/trace_norm"] = x.mean()
            else:
                out[f"internals/{key}"] = x.mean()
        return out

    def record(self, internals: dict[str, torch.Tensor]) -> None:
        for tag, value in self.summarise(internals).items():
            self.sums[tag] = self.sums[tag] + value if tag in self.sums else value
        self.count += 1

    def record_spatial_index(self, internals: dict[str, torch.Tensor], target_mask: Optional[torch.Tensor]) -> None:
        """attention/spatial_index (`agents.probe.spatial_sums`) of the step whose internals these are,
        against the worlds' ``target_mask`` of that step (None: worlds without one skip it). No host sync."""
        if "spatial_gain" in internals and target_mask is not None:
            self.once["attention/spatial_index"] = spatial_sums(internals["spatial_gain"], target_mask)

    def read(self) -> dict[str, float]:
        """Means since the last read, by tag, and the once-per-update measures; resets."""
        out = {}
        if self.sums:
            tags = list(self.sums)
            values = torch.stack([self.sums[t] for t in tags]).tolist()
            out = {t: v / self.count for t, v in zip(tags, values)}
        for tag, sums in self.once.items():
            value = spatial_index(sums.tolist())
            if math.isfinite(value):
                out[tag] = value
        self.sums, self.count, self.once = {}, 0, {}
        return out
