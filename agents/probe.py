"""What an agent's top-down gains attend to: how each gain-modulated channel is tuned to the palette
colours (`colour_tuning`, and the viewer's labels `preferred_colours`), and how much spatial gain lands on
the target berries (`spatial_sums`).

**Preferred colours**, measured with single-berry images.

For every palette colour c we draw one probe image the agent could see: the bare floor with one
berry of colour c at the centre (the berry's radius in pixels, as the retina draws it), and one
more image of the bare floor alone. Each image goes bottom-up through the agent's conv trunk (no
top-down gain), and a channel's response is its activation averaged over space. A channel's
preference for c is its response to the berry-c image minus its response to the bare floor,
and its preferred colour is the argmax over the palette.

The preference is "measurable" only where the channel answers berries at all and tells the best
colour from the next one: the best excess must be above MIN_RESPONSE of the layer's largest
excess, and above the runner-up by MIN_MARGIN of itself. Elsewhere the channel is left unlabelled
(None). Channels in a trained net mostly respond to edges and mixtures, so the label is a
summary, not a claim that the channel is a colour detector.

**Spatial attention index**: the mean spatial gain on target-berry pixels / the mean elsewhere.
The map s (N, h, w) is at conv1's resolution; the target mask (N, H, W) (the pixels showing a berry
of the paying colour, `envs.BerryVectorEnv.target_mask`) is pooled to it, so each cell weighs
in by its share of target pixels. With s normalised to mean 1 over the map, 1 means no spatial
attention to the targets, > 1 that gain is moved onto them. Sums are kept on the device
(`spatial_sums`), pooled over worlds and steps, and divided once (`spatial_index`); NaN when no
target was in view or nothing lay outside one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from agents.vision import to_float_image
from envs.config import FLOOR_RGB, PALETTE_RGB, WorldConfig

MIN_RESPONSE = 0.05  # share of the layer's largest berry-minus-floor response
MIN_MARGIN = 0.10  # share of a channel's best response by which it must beat the runner-up


def probe_images(config: WorldConfig) -> torch.Tensor:
    """(P + 1, H, W, 3) uint8: a centred berry of each palette colour on the floor, then the bare floor."""
    size = config.view_size
    radius = config.berry_radius / config.pixel_size  # pixels
    centre = (size - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (rows - centre) ** 2 + (cols - centre) ** 2 <= radius ** 2  # (H, W)
    images = torch.tensor(FLOOR_RGB, dtype=torch.uint8).expand(len(PALETTE_RGB) + 1, size, size, 3).clone()
    for index, rgb in enumerate(PALETTE_RGB):
        images[index][disc] = torch.tensor(rgb, dtype=torch.uint8)
    return images


@torch.no_grad()
def colour_tuning(agent, config: WorldConfig) -> dict[str, torch.Tensor]:
    """For each gain-modulated layer, keyed as in the agent's internals ("channel_gain/conv1", ...),
    (C, P) float: each channel's response to a centred berry of each palette colour minus its response
    to the bare floor, bottom-up (every gain 1), on the CPU. Agents without feedback give {}."""
    if agent.feedback is None:
        return {}

    features = to_float_image(probe_images(config).to(agent.critic.weight.device))  # (P + 1, 3, H, W)
    out: dict[str, torch.Tensor] = {}
    for index in range(len(agent.feedback.channels)):
        features = agent.trunk.layer(index, features)  # bottom-up only: every gain is 1
        response = features.mean(dim=(2, 3))  # (P + 1, C)
        out[f"channel_gain/conv{index + 1}"] = (response[:-1] - response[-1:]).T.cpu()  # berry minus bare floor
    return out


def preferred_colours(agent, config: WorldConfig) -> dict[str, list[int | None]]:
    """For each gain-modulated layer, the palette index each channel prefers, or None where that cannot
    be measured (module doc): the viewer's channel labels. Agents without feedback give {}."""
    out: dict[str, list[int | None]] = {}
    for layer, excess in colour_tuning(agent, config).items():  # (C, P)
        top2 = excess.T.topk(2, dim=0).values  # (2, C)
        best, runner_up = top2[0], top2[1]
        scale = float(best.max().clamp_min(1e-12))
        measurable = (best > MIN_RESPONSE * scale) & (best - runner_up > MIN_MARGIN * best)
        colour = excess.argmax(dim=1)
        out[layer] = [int(c) if ok else None for c, ok in zip(colour, measurable)]
    return out


def spatial_sums(gain: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(4,) float64 on the device: [sum of gain on target, target weight, sum of gain elsewhere, weight
    elsewhere] for spatial gain maps (N, h, w) and target masks (N, H, W) bool; no host sync."""
    share = F.adaptive_avg_pool2d(mask[:, None].to(gain.dtype), tuple(gain.shape[1:]))[:, 0]  # (N, h, w)
    g, on = gain.double(), share.double()
    return torch.stack([(g * on).sum(), on.sum(), (g * (1 - on)).sum(), (1 - on).sum()])


def spatial_index(sums) -> float:
    """The index from `spatial_sums` (summed over any number of calls): mean gain on target / elsewhere."""
    on_sum, on_weight, off_sum, off_weight = (float(x) for x in sums)
    if on_weight <= 0 or off_weight <= 0 or off_sum <= 0:
        return math.nan
    return (on_sum / on_weight) / (off_sum / off_weight)
