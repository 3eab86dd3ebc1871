"""Drawing one viewer frame onto a pygame Surface: the arena and the panels beside it.

The window and the recorder both call `FrameRenderer.draw` and then show or save the Surface,
so there is one drawing path. The arena is drawn by `envs.draw.draw_arena`, the renderer behind
the envs' own render modes.

Layout (pixels, `FRAME_SIZE` = 1000 x 580): a HUD across the top; the arena on the left; on the
right, top to bottom, the retina (with the what/where gates and the policy beside it), the channel
gains and the running plot. A panel whose mechanism the agent lacks is not in the layout, and the panels below
it move up.
"""

from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np
import torch

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from agents.probe import preferred_colours  # noqa: E402
from envs.config import PALETTE_NAMES, PALETTE_RGB  # noqa: E402
from envs.arena import arena_view  # noqa: E402
from envs.draw import draw_arena  # noqa: E402
from viewer.keys import KEY_HELP  # noqa: E402

FRAME_SIZE = (1000, 580)
HUD_HEIGHT = 46
MARGIN = 8
ARENA_SIDE = 520
RETINA_SIDE = 216  # the view is enlarged by the largest integer factor that fits
TITLE_HEIGHT = 20
LEGEND_HEIGHT = 18  # the spatial gain's legend, under the retina
GAIN_ROW_HEIGHT = 64  # bars and their colour letters, per gain layer

BACKGROUND = (16, 16, 20)
PANEL = (34, 36, 44)
TEXT = (232, 232, 236)
DIM = (150, 150, 162)
UNLABELLED = (120, 120, 128)  # bars of channels whose preferred colour is not measurable
REWARD_UP = (90, 225, 110)
REWARD_DOWN = (245, 80, 80)
DOPAMINE = (190, 130, 255)
PAUSED = (255, 215, 90)
LESION = (255, 110, 90)


GAIN_DIM = 0.25  # gain 1 - GAIN_DIM or less is drawn at (1 - DIM_DEPTH) brightness
DIM_DEPTH = 0.6
GAIN_CONTOURS = ((1.1, (255, 255, 255), 1), (1.25, (255, 230, 60), 2))  # (level, colour, width in pixels)


def gain_overlay(view: np.ndarray, gain: Optional[np.ndarray], scale: int) -> np.ndarray:
    """The view (H, W, 3) uint8 enlarged `scale` times, with the spatial gain map (h, w) drawn so
    the berries keep their colours: on a fixed scale centred on gain 1 (the map's mean), places
    with gain below 1 are darkened (hue kept), fully at 1 - GAIN_DIM, and places above 1 are
    outlined by contour lines at the `GAIN_CONTOURS` levels; nothing is tinted. Gain 1 everywhere
    (a flat map, or the feedback lesion) leaves the view as it is.
    """
    big = view.repeat(scale, axis=0).repeat(scale, axis=1).astype(np.float32)
    if gain is None:
        return big.astype(np.uint8)
    g = torch.nn.functional.interpolate(torch.as_tensor(gain, dtype=torch.float32)[None, None], size=big.shape[:2],
                                        mode="bilinear", align_corners=False)[0, 0].numpy()
    big *= (1.0 - DIM_DEPTH * np.clip((1.0 - g) / GAIN_DIM, 0.0, 1.0))[..., None]
    for level, colour, width in GAIN_CONTOURS:
        big[contour(g >= level, width)] = colour
    return np.ascontiguousarray(big.clip(0, 255).astype(np.uint8))


def contour(inside: np.ndarray, width: int) -> np.ndarray:
    """(H, W) bool: the pixels of `inside` within `width` pixels of its edge (4-neighbour erosion)."""
    core = inside.copy()
    for _ in range(width):
        padded = np.pad(core, 1, constant_values=False)
        core = core & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~core


def layout(internals: dict, view_size: int) -> dict[str, pygame.Rect]:
    """Where each panel goes, for an agent whose internals have these keys. Absent mechanisms
    have no entry: "gates" needs "gates", "channel_gain" needs "channel_gain/..." keys."""
    width, height = FRAME_SIZE
    rects = {"hud": pygame.Rect(0, 0, width, HUD_HEIGHT),
             "arena": pygame.Rect(MARGIN, HUD_HEIGHT + MARGIN, ARENA_SIDE, ARENA_SIDE)}
    left = rects["arena"].right + 2 * MARGIN
    column = width - MARGIN - left
    top = HUD_HEIGHT + MARGIN
    side = view_size * max(1, RETINA_SIDE // view_size)
    legend = LEGEND_HEIGHT if "spatial_gain" in internals else 0
    rects["retina"] = pygame.Rect(left, top, side + 2 * MARGIN, TITLE_HEIGHT + side + legend + 2 * MARGIN)
    x = rects["retina"].right + MARGIN
    beside = pygame.Rect(x, top, left + column - x, rects["retina"].height)
    if "gates" in internals:
        rects["gates"], beside = beside.copy(), beside.copy()
        rects["gates"].height = TITLE_HEIGHT + 86
        beside.top = rects["gates"].bottom + MARGIN
        beside.height = rects["retina"].bottom - beside.top
    rects["policy"] = beside
    top = rects["retina"].bottom + MARGIN
    layers = [key for key in internals if key.startswith("channel_gain/")]
    if layers:
        rects["channel_gain"] = pygame.Rect(left, top, column, TITLE_HEIGHT + GAIN_ROW_HEIGHT * len(layers) + MARGIN)
        top = rects["channel_gain"].bottom + MARGIN
    rects["plot"] = pygame.Rect(left, top, column, max(72, height - MARGIN - top))
    return rects


class FrameRenderer:
    """Draws the frames of one session; measures the channels' preferred colours once."""

    def __init__(self, session):
        pygame.font.init()
        self.session = session
        self.rects = layout(session.internals, session.config.view_size)
        self.preferred = preferred_colours(session.agent, session.config)
        config = session.agent.config
        self.gain_max = 1.0 + float(config.gain_strength)  # g = relu(1 + beta tanh(.)) <= 1 + beta
        self._fonts: dict[int, pygame.font.Font] = {}
        self._texts: dict[tuple, pygame.Surface] = {}

    # -- the frame ------------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface, *, paused: bool = False, speed: float = 15.0,
             show_help: bool = False, message: str = "") -> None:
        """Draw the whole frame (FRAME_SIZE) onto `surface`."""
        s = self.session
        surface.fill(BACKGROUND)
        surface.set_clip(self.rects["arena"])  # the field of view may reach past the walls
        foragers = s.foragers()  # MultiBerry: every forager, numbered; the watched one ringed
        if foragers is None:
            draw_arena(surface, s.config, s.env.state, 0, self.rects["arena"])
        else:
            draw_arena(surface, s.config, arena_view(s.env.state), 0, self.rects["arena"], **foragers,
                       watched=s.watched)
        surface.set_clip(None)
        self._hud(surface, self.rects["hud"], paused, speed, message)
        self._retina(surface, self.rects["retina"])
        self._policy(surface, self.rects["policy"])
        if "gates" in self.rects:
            self._gates(surface, self.rects["gates"])
        if "channel_gain" in self.rects:
            self._channel_gain(surface, self.rects["channel_gain"])
        self._plot(surface, self.rects["plot"])
        if show_help:
            self._help(surface)

    # -- panels ---------------------------------------------------------------------------------

    def _hud(self, surface, rect, paused, speed, message) -> None:
        s = self.session
        stats = s.episode_stats()
        who = "" if s.num_slots == 1 else f"   forager {s.watched} of {s.num_slots} (Tab: next)"
        line = (f"{s.env_id}   {s.preset} agent{who}   episode {s.episode}   step {stats['step']}/"
                f"{s.config.max_episode_steps}   targets {stats['targets']:g}   distractors {stats['distractors']:g}"
                f"   return {stats['return']:+g}")
        self._text(surface, line, (MARGIN, 5), 22)
        x = MARGIN
        goal = s.goal
        if goal.any():
            colour = int(goal.argmax())
            x = self._text(surface, "goal", (x, 27), 18, DIM).right + 6
            pygame.draw.rect(surface, PALETTE_RGB[colour], (x, 28, 14, 14))
            x = self._text(surface, PALETTE_NAMES[colour], (x + 20, 27), 18).right
        else:
            x = self._text(surface, f"goal hidden (paying: {PALETTE_NAMES[s.target_colour]})", (x, 27), 18, DIM).right
        x = self._text(surface, f"{speed:g} steps/s", (x + 18, 27), 18, DIM).right
        if paused:
            x = self._text(surface, "PAUSED", (x + 18, 27), 18, PAUSED).right
        if s.lesioned:
            x = self._text(surface, "FEEDBACK CUT", (x + 18, 27), 18, LESION).right
        if message:
            self._text(surface, message, (x + 18, 27), 18, PAUSED)
        self._text(surface, "H: help", (rect.right - MARGIN, 27), 18, DIM, anchor="topright")

    def _retina(self, surface, rect) -> None:
        s = self.session
        pygame.draw.rect(surface, PANEL, rect)
        view = s.view  # (H, W, 3) uint8, the watched forager's
        gain = s.internals.get("spatial_gain")  # (h, w) or None
        title = "retina" if gain is None else "retina + spatial gain"
        if s.num_slots > 1:  # short, to leave room for the gain's range
            title = f"forager {s.watched}{'' if s.alive() else ' (starved)'}: {'retina' if gain is None else 'retina + gain'}"
        self._text(surface, title, (rect.x + MARGIN, rect.y + 3), 18)
        scale = (rect.width - 2 * MARGIN) // view.shape[1]
        image = gain_overlay(view, gain, scale)
        picture = pygame.image.frombuffer(image.tobytes(), image.shape[1::-1], "RGB")
        surface.blit(picture, (rect.x + MARGIN, rect.y + TITLE_HEIGHT + MARGIN))
        if gain is not None:
            self._text(surface, f"{gain.min():.2f}-{gain.max():.2f}", (rect.right - MARGIN, rect.y + 4), 16, DIM,
                       anchor="topright")
            self._gain_legend(surface, rect.x + MARGIN, rect.y + TITLE_HEIGHT + MARGIN + image.shape[0] + 3)

    def _gain_legend(self, surface, x: int, y: int) -> None:
        """How `gain_overlay` draws the gain: a dimmed swatch for < 1, a line per contour level."""
        pygame.draw.rect(surface, tuple(int(c * (1 - DIM_DEPTH)) for c in (200, 200, 200)), (x, y + 2, 12, 10))
        x = self._text(surface, f"<{1 - GAIN_DIM:g} dim", (x + 15, y), 15, DIM).right + 8
        for level, colour, width in GAIN_CONTOURS:
            pygame.draw.rect(surface, colour, (x, y + 6, 14, width + 1))
            x = self._text(surface, f">{level:g}", (x + 17, y), 15, DIM).right + 8
        self._text(surface, "(mean 1)", (x, y), 15, DIM)

    def _policy(self, surface, rect) -> None:
        pygame.draw.rect(surface, PANEL, rect)
        names, values, value = self.session.policy()
        self._text(surface, "policy", (rect.x + MARGIN, rect.y + 3), 18)
        self._text(surface, f"value {value:+.2f}", (rect.right - MARGIN, rect.y + 4), 16, DIM, anchor="topright")
        signed = not self.session.agent.discrete  # Gaussian means in [-1, 1], drawn from the middle
        bar_left, bar_width = rect.x + 100, rect.width - 100 - 50
        pitch = min(22, (rect.height - TITLE_HEIGHT - 8) // len(names))
        for row, (name, p) in enumerate(zip(names, values)):
            y = rect.y + TITLE_HEIGHT + 6 + row * pitch
            self._text(surface, name, (rect.x + MARGIN, y), 16, DIM)
            pygame.draw.rect(surface, BACKGROUND, (bar_left, y, bar_width, pitch - 6))
            if signed:
                middle, w = bar_left + bar_width // 2, int(round(float(p) * bar_width / 2))
                pygame.draw.rect(surface, TEXT, (min(middle, middle + w), y, abs(w), pitch - 6))
                pygame.draw.line(surface, DIM, (middle, y - 1), (middle, y + pitch - 6), 1)
            else:
                pygame.draw.rect(surface, TEXT, (bar_left, y, int(round(float(p) * bar_width)), pitch - 6))
            self._text(surface, f"{float(p):+.2f}" if signed else f"{float(p):.2f}", (rect.right - MARGIN, y), 16,
                       anchor="topright")

    def _gates(self, surface, rect) -> None:
        pygame.draw.rect(surface, PANEL, rect)
        self._text(surface, "what / where gates", (rect.x + MARGIN, rect.y + 3), 18)
        gates = self.session.internals["gates"]  # (2,) in [0, 1]
        bar_left, bar_width = rect.x + 64, rect.width - 64 - 52
        for row, (name, value) in enumerate(zip(("what", "where"), gates)):
            y = rect.y + TITLE_HEIGHT + 14 + row * 36
            self._text(surface, name, (rect.x + MARGIN, y), 18, DIM)
            pygame.draw.rect(surface, BACKGROUND, (bar_left, y, bar_width, 18))
            pygame.draw.rect(surface, TEXT, (bar_left, y, int(round(bar_width * float(value))), 18))
            self._text(surface, f"{float(value):.2f}", (rect.right - MARGIN, y), 18, anchor="topright")

    def _channel_gain(self, surface, rect) -> None:
        pygame.draw.rect(surface, PANEL, rect)
        self._text(surface, "channel gain (feature attention); colour = the channel's preferred berry",
                   (rect.x + MARGIN, rect.y + 3), 16)
        layers = [key for key in self.session.internals if key.startswith("channel_gain/")]
        bars_left = rect.x + 52
        bars_width = rect.right - MARGIN - bars_left
        bar_height = GAIN_ROW_HEIGHT - 22
        for row, key in enumerate(layers):
            gains = self.session.internals[key]  # (C,)
            preferred = self.preferred.get(key, [None] * len(gains))
            top = rect.y + TITLE_HEIGHT + 4 + row * GAIN_ROW_HEIGHT
            base = top + bar_height
            self._text(surface, key.split("/", 1)[1], (rect.x + MARGIN, top + bar_height // 2 - 8), 16, DIM)
            pitch = bars_width / len(gains)
            unit = bar_height / self.gain_max
            for i, (gain, colour) in enumerate(zip(gains, preferred)):
                x = int(bars_left + i * pitch)
                w = max(1, int(bars_left + (i + 1) * pitch) - x - 2)
                h = int(round(min(float(gain), self.gain_max) * unit))
                pygame.draw.rect(surface, UNLABELLED if colour is None else PALETTE_RGB[colour], (x, base - h, w, h))
                letter = "-" if colour is None else PALETTE_NAMES[colour][0]
                self._text(surface, letter, (x + w // 2, base + 2), 14, DIM, anchor="midtop")
            one = base - int(round(unit))  # the gain-1 line: no attention
            pygame.draw.line(surface, DIM, (bars_left, one), (rect.right - MARGIN, one), 1)

    def _plot(self, surface, rect) -> None:
        pygame.draw.rect(surface, PANEL, rect)
        s = self.session
        has_dopamine = "dopamine" in s.internals
        x = self._text(surface, "reward", (rect.x + MARGIN, rect.y + 3), 18, REWARD_UP).right
        if has_dopamine:
            x = self._text(surface, "and dopamine (TD error)", (x + 6, rect.y + 3), 18, DOPAMINE).right
            trace = s.internals.get("trace_norm")
            if trace is not None:
                self._text(surface, f"Hebbian trace |H| {float(trace):.2f}", (rect.right - MARGIN, rect.y + 3), 16,
                           DIM, anchor="topright")
        self._text(surface, f"last {s.history.maxlen} steps", (x + 10, rect.y + 5), 14, DIM)
        area = pygame.Rect(rect.x + MARGIN, rect.y + TITLE_HEIGHT + 6, rect.width - 2 * MARGIN,
                           rect.height - TITLE_HEIGHT - 12)
        history = np.array(s.history, dtype=np.float64).reshape(-1, 2)  # (T, 2): reward, dopamine
        finite = history[np.isfinite(history)]
        scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        mid = area.centery
        pygame.draw.line(surface, DIM, (area.left, mid), (area.right, mid), 1)
        pitch = area.width / s.history.maxlen
        unit = (area.height / 2 - 2) / scale
        for i, (reward, _) in enumerate(history):
            if reward != 0:
                x = int(area.left + (i + 0.5) * pitch)
                pygame.draw.line(surface, REWARD_UP if reward > 0 else REWARD_DOWN, (x, mid),
                                 (x, int(round(mid - reward * unit))), max(1, int(pitch)))
        points = [(int(area.left + (i + 0.5) * pitch), int(round(mid - d * unit)))
                  for i, (_, d) in enumerate(history) if math.isfinite(d)]
        if len(points) > 1:
            pygame.draw.lines(surface, DOPAMINE, False, points, 2)

    def _help(self, surface) -> None:
        lines = [("keys", "")] + list(KEY_HELP)
        font = self._font(20)
        key_width = max(font.size(key)[0] for key, _ in lines) + 30
        box = pygame.Rect(0, 0, 40 + key_width + max(font.size(action)[0] for _, action in lines),
                          34 + 26 * len(KEY_HELP))
        box.center = (FRAME_SIZE[0] // 2, FRAME_SIZE[1] // 2)
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 215))
        surface.blit(shade, box)
        pygame.draw.rect(surface, DIM, box, 1)
        for row, (key, action) in enumerate(lines):
            y = box.y + 10 + 26 * row
            self._text(surface, key, (box.x + 20, y), 20, PAUSED if row else TEXT)
            self._text(surface, action, (box.x + 20 + key_width, y), 20)

    # -- text -----------------------------------------------------------------------------------

    def _font(self, size: int) -> pygame.font.Font:
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = pygame.font.Font(None, size)
        return font

    def _text(self, surface, text: str, position, size: int, colour=TEXT, anchor: str = "topleft") -> pygame.Rect:
        """Blit `text`; returns its rect. Rendered strings are cached (most repeat every frame)."""
        key = (text, size, colour)
        picture = self._texts.get(key)
        if picture is None:
            if len(self._texts) > 2048:
                self._texts.clear()
            picture = self._texts[key] = self._font(size).render(text, True, colour)
        where = picture.get_rect(**{anchor: position})
        surface.blit(picture, where)
        return where


def new_frame() -> pygame.Surface:
    return pygame.Surface(FRAME_SIZE)


def scaled(surface: pygame.Surface, scale: float) -> pygame.Surface:
    """The frame resized by `scale` (smooth), or itself at scale 1."""
    if scale == 1.0:
        return surface
    size = (max(1, int(round(surface.get_width() * scale))), max(1, int(round(surface.get_height() * scale))))
    return pygame.transform.smoothscale(surface, size)
