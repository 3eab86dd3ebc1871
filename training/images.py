"""The pictures of a training run: the agent's view beside its spatial gain as a heat map, and the
frames of an evaluation episode's video.

The view panel (`view_panel`) shows, per world: the agent's view | its spatial gain map, colour-mapped
(viridis) to the map's own min..max, so a nearly flat map still shows where it leans | a colour bar
labelled with that min and max; above each row, the goal's colour as a swatch with its name. Text is
drawn in a TrueType font (`font`), legible at 100% zoom.

The video (`record_episode`) is one evaluation episode: the top-down arena beside the agent's view lit
by its spatial gain on an absolute scale (`overlay_gain`), captioned with the step, return and goal.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from agents.runner import Carry, env_action
from envs.config import PALETTE_NAMES, PALETTE_RGB
from training.build import action_bounds

FONT_SIZE = 13  # pixels
CAPTION_HEIGHT = 18  # a strip of one line of text
COLOUR_BAR_WIDTH = 14  # pixels of the colour bar's gradient
GAP = 4  # white pixels between the parts of a picture

# viridis (van der Walt & Smith, matplotlib's default) as a degree-6 polynomial in t in [0, 1] per RGB
# channel (Matt Zucker's CC0 fit): within 3.3/255 of matplotlib's table, and its luminance rises
# monotonically with t, so a brighter colour is always a larger value. Rows: coefficients of t^0..t^6.
_VIRIDIS = np.array([
    [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
    [0.1050930431085774, 1.404613529898575, 1.384590162594685],
    [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
    [-4.634230498983486, -5.799100973351585, -19.33244095627987],
    [6.228269936347081, 14.17993336680509, 56.69055260068105],
    [4.776384997670288, -13.74514537774601, -65.35303263337234],
    [-5.435455855934631, 4.645852612178535, 26.3124352495832],
])


def viridis(t: np.ndarray) -> np.ndarray:
    """Values ``t`` (any shape) in [0, 1] (clipped) -> viridis colours (..., 3) uint8."""
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)[..., None]
    rgb = np.zeros(t.shape[:-1] + (3,))
    for coefficients in _VIRIDIS[::-1]:  # Horner's rule
        rgb = rgb * t + coefficients
    return (np.clip(rgb, 0.0, 1.0) * 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=None)
def font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    """A TrueType font of ``size`` pixels: Pillow's own (Pillow >= 10.1), else pygame's, else Pillow's bitmap."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # an older Pillow, or one without FreeType
        pass
    spec = importlib.util.find_spec("pygame")  # found, not imported: pygame greets on import
    if spec is not None and spec.submodule_search_locations:
        try:
            return ImageFont.truetype(os.path.join(spec.submodule_search_locations[0], "freesansbold.ttf"), size)
        except (ImportError, OSError):
            pass
    return ImageFont.load_default()


def upsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upsampling of an (H, W, 3) image by an integer factor."""
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def caption(image: np.ndarray, text: str, above: bool = False) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with a white strip of black ``text`` below it (or above)."""
    strip = Image.new("RGB", (image.shape[1], CAPTION_HEIGHT), (255, 255, 255))
    ImageDraw.Draw(strip).text((4, 1), text, fill=(0, 0, 0), font=font())
    parts = [np.asarray(strip), image] if above else [image, np.asarray(strip)]
    return np.concatenate(parts, axis=0)


def _resize(gain: torch.Tensor, size: tuple[int, int], mode: str) -> np.ndarray:
    """A gain map (h, w) -> (H, W) float32, by ``mode`` ("nearest" or "bilinear")."""
    g = gain.detach().float().cpu()[None, None]
    options = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(g, size=size, mode=mode, **options)[0, 0].numpy()


def overlay_gain(view: np.ndarray, gain: Optional[torch.Tensor], scale: int) -> np.ndarray:
    """The agent's view (H, W, 3) uint8, upsampled by ``scale``, lit by its spatial gain map (h, w) on an
    absolute scale: brightness = clip(gain / 2, 0.1, 1) (bilinear to the view's size). The map has
    mean 1, so an even map shows every place at half brightness, and attended places (gain up to 2)
    keep their colours while ignored ones fade to dark; maps of different worlds and steps compare."""
    big = upsample(view, scale).astype(np.float32)
    if gain is None:
        return big.astype(np.uint8)
    light = np.clip(0.5 * _resize(gain, big.shape[:2], "bilinear"), 0.1, 1.0)
    return (big * light[..., None]).clip(0, 255).astype(np.uint8)


def heat_map(gain: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, float, float]:
    """A gain map (h, w) as a viridis image of ``size`` (H, W) (each cell a block), scaled to the map's own
    min..max so that even a nearly flat map shows its variation; returns (image (H, W, 3) uint8, min, max).
    An exactly flat map is drawn in the scale's middle colour."""
    cells = gain.detach().double().cpu()
    low, high = float(cells.min()), float(cells.max())
    t = (cells - low) / (high - low) if high > low else torch.full_like(cells, 0.5)
    return viridis(_resize(t, size, "nearest")), low, high


def colour_bar(height: int, low: float, high: float) -> np.ndarray:
    """A vertical viridis bar (``high`` at the top, ``low`` at the bottom) with the two values written beside
    it; (height, COLOUR_BAR_WIDTH + label width, 3) uint8."""
    ramp = viridis(np.linspace(1.0, 0.0, height))  # (height, 3), top to bottom
    bar = np.repeat(ramp[:, None], COLOUR_BAR_WIDTH, axis=1)
    top, bottom = f"{high:.3f}", f"{low:.3f}"
    width = max(int(font().getlength(text)) for text in (top, bottom)) + 6
    labels = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(labels)
    draw.text((4, 0), top, fill=(0, 0, 0), font=font())
    draw.text((4, height - FONT_SIZE - 3), bottom, fill=(0, 0, 0), font=font())
    return np.concatenate([bar, np.asarray(labels)], axis=1)


def goal_strip(width: int, text: str, goal: Optional[np.ndarray]) -> np.ndarray:
    """A white strip (CAPTION_HEIGHT, width, 3) reading "goal [swatch] <colour>  <text>": the goal (P,), a
    one-hot over the palette, as a swatch of its colour; "goal hidden" where it is all zeros, no goal part
    where ``goal`` is None."""
    strip = Image.new("RGB", (width, CAPTION_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    x = 4
    if goal is not None:
        if np.any(goal > 0):
            colour = int(np.argmax(goal))
            draw.text((x, 1), "goal", fill=(0, 0, 0), font=font())
            x += int(font().getlength("goal ")) + 2
            draw.rectangle([x, 2, x + CAPTION_HEIGHT - 5, CAPTION_HEIGHT - 3], fill=tuple(PALETTE_RGB[colour]),
                           outline=(0, 0, 0))
            x += CAPTION_HEIGHT
            label = PALETTE_NAMES[colour]
        else:
            label = "goal hidden"
        draw.text((x, 1), label, fill=(0, 0, 0), font=font())
        x += int(font().getlength(label)) + 12
    draw.text((x, 1), text, fill=(0, 0, 0), font=font())
    return np.asarray(strip)


def _row(parts: list[np.ndarray]) -> np.ndarray:
    """Images of one height side by side, GAP white pixels apart."""
    gap = np.full((parts[0].shape[0], GAP, 3), 255, np.uint8)
    out = [parts[0]]
    for part in parts[1:]:
        out += [gap, part]
    return np.concatenate(out, axis=1)


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    """Images stacked top to bottom, GAP white pixels apart, padded white on the right to the widest."""
    width = max(r.shape[1] for r in rows)
    out = []
    for r in rows:
        out.append(np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)], axis=1))
        out.append(np.full((GAP, width, 3), 255, np.uint8))
    return np.concatenate(out[:-1], axis=0)


def view_panel(views: np.ndarray, gains: Optional[torch.Tensor], goals: Optional[np.ndarray] = None,
               scale: int = 8) -> np.ndarray:
    """One row per world under a header that names the columns: its view | its spatial gain as a heat map
    (`heat_map`) | the map's colour bar (`colour_bar`), with the goal's colour and the map's range above
    it (`goal_strip`). views (K, H, W, 3) uint8, gains (K, h, w) or None, goals (K, P) or None.
    Returns an (height, width, 3) uint8 image."""
    rows = []
    for i in range(views.shape[0]):
        plain = upsample(views[i], scale)
        goal = None if goals is None else goals[i]
        if gains is None:
            rows += [goal_strip(plain.shape[1], "", goal), plain]
            continue
        heat, low, high = heat_map(gains[i], plain.shape[:2])
        spread = f"gain {low:.3f} to {high:.3f}" + (" (flat)" if high == low else "")
        row = _row([plain, heat, colour_bar(plain.shape[0], low, high)])
        rows += [goal_strip(row.shape[1], spread, goal), row]
    panel = _stack(rows)
    header = ("agent's view | spatial gain (viridis, each map from its min to its max)" if gains is not None
              else "agent's view (this agent has no spatial gain)")
    return caption(panel, header, above=True)


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

    return _row([pad(arena), pad(right)])


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
                goal = obs["goal"][0]
                name = PALETTE_NAMES[int(goal.argmax())] if bool(goal.any()) else "hidden"
                frames.append(caption(frame, f"step {t}  return {total:+.0f}  goal: {name}"))
            action = out.dist.sample()
            obs, reward, terminated, truncated, _ = env.step(env_action(action, *bounds))
            total += float(reward[0])
            if bool(terminated[0] | truncated[0]):
                break
            carry = carry.advance(out, action, reward, terminated, truncated)
    return frames, total
