"""Egocentric retina rendering for N worlds at once, on the device.

The forager sits at a fixed spot near the bottom edge of its view, facing up. The view is a
top-down crop that turns with the forager: `view_extent` world units across, `view_size` pixels.

Rendering goes through a label map, one uint8 per pixel, then a colour lookup:
  1. walls: for each pixel row, the arena's inside is an interval of columns (a line meets a
     convex square in an interval), so walls cost two comparisons per pixel;
  2. discs (berries, other foragers, foliage): each disc writes its label into a small box of
     pixels with `scatter_reduce(amax)`. Higher labels win, so foliage hides berries whatever the
     order, and overlapping discs draw the same on every device. Pixels outside the view or discs
     that are absent write label 0, a no-op under amax, so no boolean indexing is needed;
  3. colours: a (N, labels, 3) lookup table that already carries each world's illumination;
  4. pixel noise, when asked for, from the counter-based RNG.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from envs import rng
from envs.arena import DRAW_NOISE, WorldState
from envs.config import FLOOR_RGB, FOLIAGE_RGB, FORAGER_RGB, NUM_COLOURS, PALETTE_RGB, WALL_RGB, WorldConfig

LABEL_FLOOR, LABEL_WALL, LABEL_BERRY = 0, 1, 2  # berries of colour c get LABEL_BERRY + c
LABEL_FORAGER = LABEL_BERRY + NUM_COLOURS
LABEL_FOLIAGE = LABEL_FORAGER + 1
NUM_LABELS = LABEL_FOLIAGE + 1
LABEL_RGB = (FLOOR_RGB, WALL_RGB, *PALETTE_RGB, FORAGER_RGB, FOLIAGE_RGB)

FORAGER_ROW_FROM_BOTTOM = 1.5  # pixels between the view's bottom edge and the forager's centre


def egocentric(pose: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (N, M, 2) -> (ahead, left) distances (N, M) in the frame of pose (N, 3)."""
    delta = points - pose[:, None, :2]
    cos, sin = torch.cos(pose[:, 2:3]), torch.sin(pose[:, 2:3])
    ahead = delta[..., 0] * cos + delta[..., 1] * sin
    left = -delta[..., 0] * sin + delta[..., 1] * cos
    return ahead, left


def view_coordinates(config: WorldConfig, ahead: torch.Tensor, left: torch.Tensor):
    """(ahead, left) world distances -> continuous (row, col) in pixels (pixel i spans [i, i+1))."""
    px = config.pixel_size
    row = (config.view_size - FORAGER_ROW_FROM_BOTTOM) - ahead / px
    col = config.view_size / 2 - left / px
    return row, col


def in_view(config: WorldConfig, pose: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(N, M) bool: which points' centres fall inside the forager's view."""
    row, col = view_coordinates(config, *egocentric(pose, points))
    size = config.view_size
    return (row >= 0) & (row < size) & (col >= 0) & (col < size)


class Disc(NamedTuple):
    """The pixels a disc of one kind may cover, fixed when the retina is made (from the radius it was made
    with, the largest it may be given later): flat offsets (S,) int64 into the label map around the centre
    pixel, their squared distances (S,) float32, and the reach r (offsets lie within [-r, r]^2)."""

    offsets: torch.Tensor
    distance2: torch.Tensor
    reach: int


class Retina:
    """Renders (N, H, W, 3) uint8 views of N worlds, as fresh tensors each time: nothing it returns is
    written again by a later render, so a step that draws can be compiled or captured as one graph.

    The label map has a margin of `pad` pixels on every side. A disc's centre pixel is clamped
    into [-r - 1, size + r], so a disc far outside the view lands wholly in the margin and no
    per-pixel bounds test is needed. The margin is never read (nor cleared).

    Knobs a curriculum changes between steps (`use_config`: noise, foliage radius) live in 0-d tensors on
    the device, so the drawing reads them as values, not as constants that a compiled graph would bake in.
    """

    def __init__(self, config: WorldConfig, num_envs: int, device: torch.device):
        self.config = config  # the current knobs, for readers; drawing reads `built` and the knob tensors
        self.built = config  # what the retina was made for: its margin and disc stencils hold discs this large
        self.num_envs = num_envs
        size = config.view_size
        self.hw = size * size
        largest = max(config.berry_radius, config.foliage_radius, config.forager_radius) / config.pixel_size
        self.pad = 2 * int(math.floor(largest)) + 1
        self.side = size + 2 * self.pad
        self._labelled = None  # (state, labels): the last drawn state and its label map (`label_map`)
        self.label_offset = (torch.arange(num_envs, dtype=torch.int32, device=device) * NUM_LABELS)[:, None, None]
        self.env_offset = torch.arange(num_envs, device=device)[:, None, None] * (self.side * self.side)
        self.base_rgb = torch.tensor(LABEL_RGB, dtype=torch.float32, device=device)  # (NL, 3)
        self.shared_lut = self.base_rgb.to(torch.uint8)  # used when illumination never changes
        centre = torch.arange(size, dtype=torch.float32, device=device) + 0.5
        px = config.pixel_size
        self.row_ahead = ((size - FORAGER_ROW_FROM_BOTTOM) - centre) * px  # (H,) ahead distance of each row
        self.col_left = (size / 2 - centre) * px  # (W,) left distance of each column
        self.discs = {name: self._disc(radius / px, device) for name, radius in (
            ("berry", config.berry_radius), ("foliage", config.foliage_radius), ("forager", config.forager_radius))}
        # Live knobs (`use_config`), as the values the drawing used to compute on the host, in float32.
        self.noise_amplitude = torch.zeros((), dtype=torch.float32, device=device)
        self.foliage_reach2 = torch.zeros((), dtype=torch.float32, device=device)
        self.noisy = False
        self.use_config(config)
        j = torch.arange(size)
        start, stop = torch.meshgrid(torch.arange(size + 1), torch.arange(size + 1), indexing="ij")
        outside = (j < start.reshape(-1, 1)) | (j >= stop.reshape(-1, 1))  # ((W+1)^2, W)
        self.wall_rows = outside.to(torch.uint8).to(device)
        # Colour lookup four pixels at a time: one row of a NL^4-entry table per pixel quad.
        self.quads = size % 4 == 0
        if self.quads:
            codes = torch.cartesian_prod(*[torch.arange(NUM_LABELS)] * 4)  # (NL^4, 4), first varies slowest
            self.quad_lut = self.shared_lut.cpu()[codes].reshape(-1, 12).to(device)  # (NL^4, 12)

    def use_config(self, config: WorldConfig) -> None:
        """Draw with ``config``'s live knobs (noise, foliage radius) from now on; its other fields must be the
        ones the retina was made with. The knob tensors change in place (no host sync, no new shapes)."""
        self.config = config
        self.noise_amplitude.fill_(config.noise * 255.0)
        radius_px = config.foliage_radius / config.pixel_size
        self.foliage_reach2.fill_(max(radius_px * radius_px, 0.5))
        self.noisy = config.noise > 0

    def _disc(self, radius_px: float, device: torch.device) -> Disc:
        """The stencil of discs up to radius_px pixels: the offsets within radius_px of a centre pixel."""
        reach = int(math.floor(radius_px))
        d = torch.arange(-reach, reach + 1)
        di, dj = torch.meshgrid(d, d, indexing="ij")
        distance2 = di * di + dj * dj
        inside = distance2 <= max(radius_px * radius_px, 0.5)
        return Disc((di * self.side + dj)[inside].to(device), distance2[inside].to(torch.float32).to(device), reach)

    def _walls(self, pose: torch.Tensor) -> torch.Tensor:
        """(N*H, W) uint8 label rows: 1 for pixels outside the arena, 0 inside.

        A pixel row meets the square arena in one interval of columns [j0, j1), so each row is
        one of (W+1)^2 patterns: the rows are found by solving for the interval per row, then
        copied from a small table of patterns.
        """
        L = self.built.arena_size
        size = self.built.view_size
        cos, sin = torch.cos(pose[:, 2:3]), torch.sin(pose[:, 2:3])  # (N, 1)
        # World point of pixel (i, j): pos + ahead_i * (cos, sin) + left_j * (-sin, cos).
        ax = pose[:, 0:1] + self.row_ahead * cos  # (N, H): x = ax - left * sin
        ay = pose[:, 1:2] + self.row_ahead * sin  # (N, H): y = ay + left * cos
        lo = torch.full_like(ax, -math.inf)
        hi = torch.full_like(ax, math.inf)
        for a, slope in ((ax, -sin), (ay, cos)):  # 0 <= a + left * slope <= L, solved for left
            steep = slope.abs() > 1e-6
            safe = torch.where(steep, slope, torch.ones_like(slope))
            b0, b1 = -a / safe, (L - a) / safe
            inside = (a >= 0) & (a <= L)
            flat_lo = torch.where(inside, -math.inf, math.inf)  # a row parallel to this wall pair
            lo = torch.maximum(lo, torch.where(steep, torch.minimum(b0, b1), flat_lo))
            hi = torch.minimum(hi, torch.where(steep, torch.maximum(b0, b1), -flat_lo))
        # Column j is inside when lo <= left_j <= hi, with left_j = (size/2 - j - 0.5) * px.
        px = self.built.pixel_size
        j0 = torch.ceil(size / 2 - 0.5 - hi / px).clamp(0, size)
        j1 = (torch.floor(size / 2 - 0.5 - lo / px) + 1).clamp(0, size)
        j1 = torch.maximum(j0, j1)
        pattern = (j0 * (size + 1) + j1).to(torch.int32).view(-1)  # (N*H,)
        return torch.index_select(self.wall_rows, 0, pattern)

    def stamp(self, labels: torch.Tensor, pose: torch.Tensor, points: torch.Tensor, values: torch.Tensor,
              disc: Disc, reach2=None) -> None:
        """Draw discs at world points (N, M, 2) with uint8 labels ``values`` (N, M) (0 = absent) into the
        label map ``labels`` (N, side, side), with the stencil ``disc``; with ``reach2`` (a 0-d tensor) only
        the stencil's pixels within sqrt(reach2) of the centre (a smaller disc than the stencil's)."""
        n, m = values.shape
        if m == 0:
            return
        config = self.built
        offsets, reach = disc.offsets, disc.reach  # (S,)
        row, col = view_coordinates(config, *egocentric(pose, points))  # (N, M)
        limit = config.view_size + reach
        pi = torch.floor(row).clamp_(-reach - 1, limit).long() + self.pad
        pj = torch.floor(col).clamp_(-reach - 1, limit).long() + self.pad
        centre = (pi * self.side + pj + self.env_offset[:, :, 0])[..., None]  # (N, M, 1)
        flat = (centre + offsets).view(-1)  # (N * M * S,)
        value = values[..., None].expand(n, m, offsets.shape[0])
        if reach2 is not None:
            value = torch.where(disc.distance2 <= reach2, value, 0)
        labels.view(-1).scatter_reduce_(0, flat, value.reshape(-1), reduce="amax")

    def label_map(self, state: WorldState) -> torch.Tensor:
        """(N, H, W) uint8: what each pixel of ``state``'s views shows (floor, wall, berry colour, foliage,
        forager), before illumination and noise. The map of the last render when that was of ``state``
        itself, else drawn now; a function of the state either way. No host sync."""
        if self._labelled is None or self._labelled[0] is not state:
            self.remember(state, self.draw_labels(state))
        return self._labelled[1]

    def remember(self, state: WorldState, labels: torch.Tensor) -> None:
        """Keep ``labels``, the label map of ``state`` (from `draw`), for `label_map`."""
        self._labelled = (state, labels)

    def draw_labels(self, state: WorldState, extra_discs=()) -> torch.Tensor:
        """(N, H, W) uint8 label map of ``state``'s views (a view into a fresh map with its margin)."""
        config = self.built
        n, size, pad = self.num_envs, config.view_size, self.pad
        pose = state.pose
        labels = torch.empty(n, self.side, self.side, dtype=torch.uint8, device=pose.device)  # the margin: never read
        interior = labels[:, pad:pad + size, pad:pad + size]
        interior.copy_(self._walls(pose).view(n, size, size))  # 0 floor, 1 wall
        present = state.berry_timer == 0
        berry_label = torch.where(present, LABEL_BERRY + state.berry_colour, 0).to(torch.uint8)
        self.stamp(labels, pose, state.berry_pos, berry_label, self.discs["berry"])
        for points, values, disc in extra_discs:
            self.stamp(labels, pose, points, values, self.discs[disc])
        if config.num_foliage:
            foliage_label = torch.full(state.foliage_pos.shape[:2], LABEL_FOLIAGE, dtype=torch.uint8, device=pose.device)
            self.stamp(labels, pose, state.foliage_pos, foliage_label, self.discs["foliage"], self.foliage_reach2)
        return interior

    def draw(self, state: WorldState, extra_discs=()) -> tuple[torch.Tensor, torch.Tensor]:
        """The views of all N slots, as fresh tensors: the image (N, H, W, 3) uint8 and its label map
        (N, H, W) uint8. A function of ``state`` and the live knobs; it writes nothing the retina keeps.

        extra_discs: (points (N, M, 2), labels (N, M) uint8, disc kind) triples drawn besides the berries
        and foliage, such as other foragers (kind "forager"). Under amax the drawing order does not matter.
        """
        config = self.built
        n, size = self.num_envs, config.view_size
        labels = self.draw_labels(state, extra_discs)
        if config.illumination > 0:
            lut = (self.base_rgb * state.illumination[:, None, :]).clamp(0, 255).to(torch.uint8)  # (N, NL, 3)
            index = (labels + self.label_offset).view(-1)  # int32
            image = torch.index_select(lut.view(-1, 3), 0, index)
        elif self.quads:
            quads = labels.reshape(n * self.hw // 4, 4)  # (Q, 4): one copy out of the margin
            code = torch.empty(quads.shape[0], dtype=torch.int32, device=quads.device)  # (Q,) the quad's row
            torch.mul(quads[:, 0], NUM_LABELS, out=code)
            for k in (1, 2, 3):
                code.add_(quads[:, k]).mul_(NUM_LABELS if k < 3 else 1)
            image = torch.index_select(self.quad_lut, 0, code)
        else:
            image = torch.index_select(self.shared_lut, 0, labels.reshape(-1).to(torch.int32))
        image = image.view(n, size, size, 3)
        if self.noisy:
            image = self._add_noise(state, image)
        return image, labels

    def render(self, state: WorldState, extra_discs=()) -> torch.Tensor:
        """`draw`'s image (N, H, W, 3) uint8, a fresh tensor; the label map is kept for `label_map` (unless
        extra discs were drawn, which are not part of ``state``)."""
        image, labels = self.draw(state, extra_discs)
        self._labelled = (state, labels) if not extra_discs else None
        return image

    def _add_noise(self, state: WorldState, image: torch.Tensor) -> torch.Tensor:
        n = self.num_envs
        key = rng.step_key(state.seed, state.counter)
        count = self.hw * 3
        noise = rng.uniform(key, DRAW_NOISE, (count,))  # (N, H*W*3)
        noisy = image.view(n, count).to(torch.float32) + (2 * noise - 1) * self.noise_amplitude
        return noisy.round_().clamp_(0, 255).to(torch.uint8).view(image.shape)
