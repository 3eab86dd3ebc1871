"""What a training run shows in TensorBoard: scalars, the agent's view, a GIF video, hparams.

Statistics accumulate on the device while the rollout is collected (`EpisodeStats`,
`InternalStats`) and are read to the host once per update, when they are logged.

The video is one evaluation episode (`record_episode`), a GIF encoded here with pillow and written as an image summary, so it animates in
TensorBoard's Images tab. (``SummaryWriter.add_video`` needs moviepy < 2 and silently writes
nothing without it.)
"""

from __future__ import annotations

import json
import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from agents.probe import spatial_index, spatial_sums
from agents.runner import Carry, env_action
from common.video import encode_gif
from envs.config import PALETTE_NAMES
from training.build import action_bounds

# (key in info["forage"], TensorBoard tag). Precision is pooled: sum target / sum eaten.
EPISODE_KEYS = (
    ("r", "charts/episodic_return"),
    ("l", "charts/episodic_length"),
    ("target_eaten", "forage/target_eaten"),
    ("distractor_eaten", "forage/distractor_eaten"),
)


# Per-step rates, logged every update: every world starts its first episode together, so with the
# default 500-step episodes no episode ends before 128k steps (256 worlds x 500); these show learning
# from the first update on. (sum index, TensorBoard tag)
RATE_TAGS = (
    (0, "charts/reward_per_100_steps"),
    (1, "forage/targets_per_100_steps"),
    (2, "forage/distractors_per_100_steps"),
)


class EpisodeStats:
    """Sums of the episode statistics of the episodes that ended since the last `read`, and of the
    rewards and berries of every step since then."""

    def __init__(self, device: torch.device):
        # [episode sums by EPISODE_KEYS..., episode count, reward, targets, distractors, steps]
        self.sums = torch.zeros(len(EPISODE_KEYS) + 5, device=device)

    def record(self, info: dict, reward: Optional[torch.Tensor] = None) -> None:
        """Add this step's ``reward`` (N,) and berries, and the episodes that ended this step
        (``info["_forage"]``); no host sync."""
        k = len(EPISODE_KEYS)
        if reward is not None:
            self.sums[k + 1] += reward.float().sum()
            self.sums[k + 2] += info["target_eaten"].float().sum()
            self.sums[k + 3] += info["distractor_eaten"].float().sum()
            self.sums[k + 4] += reward.numel()
        if "_forage" not in info:
            return
        ended = info["_forage"].float()  # (N,)
        episode = info["forage"]
        values = torch.stack([episode[key].float() for key, _ in EPISODE_KEYS])  # (K, N)
        self.sums[:k] += values @ ended
        self.sums[k] += ended.sum()

    def read(self, sums: Optional[torch.Tensor] = None) -> dict[str, float]:
        """Per-step rates and means per episode, by tag (no episode tags if no episode ended); resets.

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
    spatial_gain (N, h, w) -> attention/spatial_gain_mean and attention/spatial_gain_std (std
    across the map); gates (N, 2) -> gating/what, gating/where; dopamine (N,) ->
    dopamine/delta and dopamine/delta_abs; trace_norm (N,) -> dopamine/trace_norm; anything
    else -> internals/<key> (mean). `record_spatial_index` adds attention/spatial_index for one step.
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
                out["attention/spatial_gain_mean"] = flat.mean()
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


# --- images --------------------------------------------------------------------------------


def upsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upsampling of an (H, W, 3) image by an integer factor."""
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def overlay_gain(view: np.ndarray, gain: Optional[torch.Tensor], scale: int) -> np.ndarray:
    """The agent's view (H, W, 3) uint8, upsampled by ``scale``, lit by its spatial gain map (h, w) on an
    absolute scale: brightness = clip(gain / 2, 0.1, 1) (bilinear to the view's size). The map has
    mean 1, so an even map shows every place at half brightness, and attended places (gain up to 2)
    keep their colours while ignored ones fade to dark; maps of different worlds and steps compare."""
    big = upsample(view, scale).astype(np.float32)
    if gain is None:
        return big.astype(np.uint8)
    g = gain.detach().float().cpu()[None, None]
    g = F.interpolate(g, size=big.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()
    light = np.clip(0.5 * g, 0.1, 1.0)
    return (big * light[..., None]).clip(0, 255).astype(np.uint8)


def caption(image: np.ndarray, text: str, above: bool = False) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with a white strip of black ``text`` below it (or above)."""
    strip = Image.new("RGB", (image.shape[1], CAPTION_HEIGHT), (255, 255, 255))
    ImageDraw.Draw(strip).text((4, 2), text, fill=(0, 0, 0))
    parts = [np.asarray(strip), image] if above else [image, np.asarray(strip)]
    return np.concatenate(parts, axis=0)


CAPTION_HEIGHT = 14


def view_panel(views: np.ndarray, gains: Optional[torch.Tensor], scale: int = 8) -> np.ndarray:
    """One row per world: its view | the view lit by its spatial gain (`overlay_gain`), under a header
    that says so. views (K, H, W, 3) uint8, gains (K, h, w) or None. Returns (header + K * H * scale,
    2 * W * scale + gap, 3) uint8."""
    rows = []
    for i in range(views.shape[0]):
        plain = upsample(views[i], scale)
        lit = overlay_gain(views[i], None if gains is None else gains[i], scale)
        gap = np.full((plain.shape[0], 4, 3), 255, np.uint8)
        rows.append(np.concatenate([plain, gap, lit], axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    panel = np.concatenate(rows[:-1], axis=0)
    right = "view lit by its spatial gain (mean 1 per map)" if gains is not None else "(no spatial gain)"
    return caption(panel, f"agent's view | {right}", above=True)


def video_frame(arena: np.ndarray, view: np.ndarray, gain: Optional[torch.Tensor]) -> np.ndarray:
    """A video frame: the top-down arena (S, S, 3) beside the agent's view with its gain overlay,
    scaled to the arena's height."""
    scale = max(1, arena.shape[0] // view.shape[0])
    right = overlay_gain(view, gain, scale)
    height = max(arena.shape[0], right.shape[0])

    def pad(img: np.ndarray) -> np.ndarray:
        out = np.zeros((height, img.shape[1], 3), np.uint8)
        out[: img.shape[0]] = img
        return out

    gap = np.full((height, 4, 3), 255, np.uint8)
    return np.concatenate([pad(arena), gap, pad(right)], axis=1)


VIDEO_MAX_FRAMES = 150  # frames kept from an evaluation episode (every k-th step)
VIDEO_SIZE = 192  # pixels of the arena's side in the video (the agent's view is scaled to match)


def record_episode(agent, env, seed: int, device: torch.device) -> tuple[list[np.ndarray], float]:
    """Run one evaluation episode in a 1-world ``env``; return GIF frames (arena | agent view with
    spatial gain) and its return. Samples actions on a forked RNG, so training's stream is intact."""
    obs, _ = env.reset(seed=seed)
    # 1 world, or the foragers of one MultiBerry arena (the video follows the first)
    carry = Carry.start(agent, env.num_envs, device)
    bounds = action_bounds(env)
    limit = env.config.max_episode_steps
    stride = max(1, math.ceil(limit / VIDEO_MAX_FRAMES))
    frames, total = [], 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        for t in range(limit + 1):
            out = carry.act(agent, obs)
            if t % stride == 0:
                gain = out.internals.get("spatial_gain")
                frame = video_frame(env.render_arena(0, size=VIDEO_SIZE), obs["image"][0].cpu().numpy(),
                                    None if gain is None else gain[0])
                goal = PALETTE_NAMES[int(obs["goal"][0].argmax())]
                frames.append(caption(frame, f"step {t}  return {total:+.0f}  goal: {goal}"))
            action = out.dist.sample()
            obs, reward, terminated, truncated, _ = env.step(env_action(action, *bounds))
            total += float(reward[0])
            if bool(terminated[0] | truncated[0]):
                break
            carry = carry.advance(out, action, reward, terminated, truncated)
    return frames, total


def add_gif(writer: SummaryWriter, tag: str, frames: Sequence[np.ndarray], step: int, fps: float = 20.0) -> None:
    """Write ``frames`` as an animated GIF image summary (Images tab)."""
    gif = encode_gif(frames, fps)
    height, width = frames[0].shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


# --- config and hparams --------------------------------------------------------------------


def config_table(values: dict) -> str:
    """The config as a markdown table (TensorBoard's Text tab), as CleanRL logs it."""
    rows = "\n".join(f"|{k}|{json.dumps(v)}|" for k, v in values.items())
    return "|param|value|\n|-|-|\n" + rows


HPARAM_METRICS = ("final/episodic_return", "final/normalized_score", "final/precision",
                  "final/reward_per_100_steps", "charts/SPS")


def add_hparams(writer: SummaryWriter, values: dict) -> None:
    """Write the hparams plugin's summaries into the run's own directory (not a subfolder, as
    ``SummaryWriter.add_hparams`` does), with `HPARAM_METRICS` as the metrics. Values that are
    not bool, number or string are written as JSON."""
    clean = {
        k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
        for k, v in values.items()
    }
    experiment, start, end = hparams_summaries(clean, {tag: 0.0 for tag in HPARAM_METRICS})
    file_writer = writer._get_file_writer()
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)
