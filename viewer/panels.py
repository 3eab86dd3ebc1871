"""Drawing one viewer frame onto a pygame Surface: the arena and the panels beside it.

The window and the recorder both call `FrameRenderer.draw` and then show or save the Surface,
so there is one drawing path. The arena is drawn by `envs.draw.draw_arena`, the renderer behind
the envs' own render modes.

Layout (pixels, `FRAME_SIZE` = 1000 x 580): a HUD across the top; the arena on the left; on the
right, top to bottom, the retina (with the what/where gates and the policy beside it), the channel
gains and the running plot. A panel whose mechanism the agent lacks is not in the layout, and the panels below
it move up.

A frame is drawn at its output size (`FrameRenderer(session, scale)`: FRAME_SIZE times scale), not drawn
large and shrunk: the layout scales, and text scales with it but never below MIN_TEXT_PX pixels a line,
so a recording at --scale 0.6 reads at 100%. The window's renderer draws the live controls' hints
(speed, pause, "H: help", the help overlay); a recording's (`hints=False`) draws none.

A person playing (`viewer.play.PlaySession`) is drawn by the same renderer: it has no agent internals, so
only the arena, retina, move and reward panels are laid out, and it may set `driver`, `arena_hidden`
(its own view in the arena's place), `reveals_target`, `hint`, `key_help` and `policy_title`.
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
MIN_TEXT_PX = 11  # no line of text is drawn shorter than this, in output pixels, at any scale
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


def frame_size(scale: float = 1.0) -> tuple[int, int]:
    """The frame's size in pixels at `scale` (FRAME_SIZE at 1)."""
    return max(1, int(round(FRAME_SIZE[0] * scale))), max(1, int(round(FRAME_SIZE[1] * scale)))


def font_for(size: int, scale: float) -> pygame.font.Font:
    """The font of text designed at pygame size `size` for FRAME_SIZE, drawn at `scale`: scaled with the
    frame, and never with a line under MIN_TEXT_PX pixels, so that a small recording stays legible."""
    n = max(1, int(round(size * scale)))
    font = pygame.font.Font(None, n)
    while font.get_height() < MIN_TEXT_PX:
        n += 1
        font = pygame.font.Font(None, n)
    return font


def layout(internals: dict, view_size: int, scale: float = 1.0, legend_height: int = LEGEND_HEIGHT,
           title_height: int = TITLE_HEIGHT, letters_height: int = 22) -> dict[str, pygame.Rect]:
    """Where each panel goes in a frame of `frame_size(scale)`, for an agent whose internals have these keys.
    Absent mechanisms have no entry: "gates" needs "gates", "channel_gain" needs "channel_gain/..." keys.
    The heights of text (titles, the gain legend, the channel letters) are given in output pixels, since
    text keeps a minimum size where the frame shrinks; where the panels would then not fit, the retina is
    enlarged by a smaller integer factor."""
    def px(value: float) -> int:
        return int(round(value * scale))

    width, height = frame_size(scale)
    margin = max(2, px(MARGIN))
    hud = max(px(HUD_HEIGHT), 2 * title_height + 4)
    plot_least = max(px(72), 2 * title_height + 8)
    for factor in range(max(1, px(RETINA_SIDE) // view_size), 0, -1):
        rects = {"hud": pygame.Rect(0, 0, width, hud)}
        side = min(px(ARENA_SIDE), height - hud - 2 * margin)
        rects["arena"] = pygame.Rect(margin, hud + margin, side, side)
        left = rects["arena"].right + 2 * margin
        column = width - margin - left
        top = hud + margin
        view = view_size * factor
        legend = legend_height if "spatial_gain" in internals else 0
        widest = view_size * max(1, px(RETINA_SIDE) // view_size)  # the panel keeps its width, for its title and legend
        rects["retina"] = pygame.Rect(left, top, widest + 2 * margin, title_height + view + legend + 2 * margin)
        x = rects["retina"].right + margin
        beside = pygame.Rect(x, top, left + column - x, rects["retina"].height)
        if "gates" in internals:
            rects["gates"], beside = beside.copy(), beside.copy()
            rects["gates"].height = title_height + max(px(86), 2 * title_height + 8)
            beside.top = rects["gates"].bottom + margin
            beside.height = rects["retina"].bottom - beside.top
        rects["policy"] = beside
        top = rects["retina"].bottom + margin
        layers = [key for key in internals if key.startswith("channel_gain/")]
        if layers:
            row = max(px(GAIN_ROW_HEIGHT), letters_height + max(12, px(30)))
            rects["channel_gain"] = pygame.Rect(left, top, column, title_height + row * len(layers) + margin)
            top = rects["channel_gain"].bottom + margin
        rects["plot"] = pygame.Rect(left, top, column, max(plot_least, height - margin - top))
        if rects["plot"].bottom <= height:
            break
    return rects


class FrameRenderer:
    """Draws the frames of one session at `scale` (a frame of `frame_size(scale)`), with text sized for it
    (`font_for`). `hints`: the live controls' hints (speed, pause, "H: help", the help overlay, the keys
    to press), for the window; a recording has none."""

    def __init__(self, session, scale: float = 1.0, hints: bool = True):
        pygame.font.init()
        self.session = session
        self.scale = scale
        self.hints = hints
        self.size = frame_size(scale)
        self.margin = max(2, self._px(MARGIN))
        self._fonts: dict[int, pygame.font.Font] = {}
        self._texts: dict[tuple, pygame.Surface] = {}
        self.title_height = max(self._px(TITLE_HEIGHT), self._font(18).get_height() + 2)
        self.letter_height = self._font(14).get_height()
        agent = getattr(session, "agent", None)
        self.preferred = preferred_colours(agent, session.config) if agent is not None else {}
        view = session.config.view_size
        side = view * max(1, self._px(RETINA_SIDE) // view)
        self.legend_lines = self._legend_rows(side)
        self.legend_height = len(self.legend_lines) * (self._font(15).get_height() + 2) + 2
        self.rects = layout(session.internals, view, scale, legend_height=self.legend_height,
                            title_height=self.title_height, letters_height=2 * self.letter_height + 4)
        self.gain_max = 1.0 + float(agent.config.gain_strength) if agent is not None else 2.0  # g <= 1 + beta

    def _px(self, value: float) -> int:
        return int(round(value * self.scale))

    @property
    def text_heights(self) -> set[int]:
        """The line heights, in output pixels, of every font drawn so far."""
        return {font.get_height() for font in self._fonts.values()}

    # -- the frame ------------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface, *, paused: bool = False, speed: float = 15.0,
             show_help: bool = False, message: str = "") -> None:
        """Draw the whole frame (`self.size`) onto `surface`."""
        s = self.session
        surface.fill(BACKGROUND)
        surface.set_clip(self.rects["arena"])  # the field of view may reach past the walls
        if getattr(s, "arena_hidden", False):  # a person playing from the forager's own view
            self._big_view(surface, self.rects["arena"])
        else:
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
        if show_help and self.hints:
            self._help(surface)

    # -- panels ---------------------------------------------------------------------------------

    def _hud(self, surface, rect, paused, speed, message) -> None:
        s, px, m = self.session, self._px, self.margin
        stats = s.episode_stats()
        driver = getattr(s, "driver", None)  # a person playing (`viewer.play`), who drives one forager
        who = "" if s.num_slots == 1 or driver else \
            f"   forager {s.watched} of {s.num_slots}{' (Tab: next)' if self.hints else ''}"
        line = (f"{s.env_id}   {driver or f'{s.preset} agent'}{who}   episode {s.episode}   step {stats['step']}/"
                f"{s.config.max_episode_steps}   targets {stats['targets']:g}   distractors {stats['distractors']:g}"
                f"   return {stats['return']:+g}")
        first = self._text(surface, line, (m, max(1, px(5))), 22)
        y = max(px(27), first.bottom + 1)
        x, gap = m, max(6, px(18))
        goal = s.goal
        if goal.any():
            colour = int(goal.argmax())
            x = self._text(surface, "goal", (x, y), 18, DIM).right + max(3, px(6))
            box = self._font(18).get_height() - 2
            pygame.draw.rect(surface, PALETTE_RGB[colour], (x, y + 1, box, box))
            x = self._text(surface, PALETTE_NAMES[colour], (x + box + max(3, px(6)), y), 18).right
        elif getattr(s, "reveals_target", True):
            x = self._text(surface, f"goal hidden (paying: {PALETTE_NAMES[s.target_colour]})", (x, y), 18, DIM).right
        else:
            x = self._text(surface, "goal hidden", (x, y), 18, DIM).right
        if self.hints:
            x = self._text(surface, f"{speed:g} steps/s", (x + gap, y), 18, DIM).right
            if paused:
                x = self._text(surface, "PAUSED", (x + gap, y), 18, PAUSED).right
        if s.lesioned:
            x = self._text(surface, "FEEDBACK CUT", (x + gap, y), 18, LESION).right
        if message:
            self._text(surface, message, (x + gap, y), 18, PAUSED)
        if self.hints:
            self._text(surface, getattr(s, "hint", "H: help"), (rect.right - m, y), 18, DIM, anchor="topright")

    def _big_view(self, surface, rect) -> None:
        """The watched forager's own view, as large as `rect` holds (integer enlargement), in place of the arena."""
        view = self.session.view
        image = gain_overlay(view, None, max(1, min(rect.width, rect.height) // view.shape[0]))
        picture = pygame.image.frombuffer(image.tobytes(), image.shape[1::-1], "RGB")
        surface.blit(picture, picture.get_rect(center=rect.center))

    def _retina(self, surface, rect) -> None:
        s, m = self.session, self.margin
        pygame.draw.rect(surface, PANEL, rect)
        view = s.view  # (H, W, 3) uint8, the watched forager's
        gain = s.internals.get("spatial_gain")  # (h, w) or None
        title = "retina" if gain is None else "retina + spatial gain"
        if s.num_slots > 1:  # short, to leave room for the gain's range
            title = f"forager {s.watched}{'' if s.alive() else ' (starved)'}: {'retina' if gain is None else 'retina + gain'}"
        title_rect = self._text(surface, title, (rect.x + m, rect.y + max(1, self._px(3))), 18)
        legend = self.legend_height if gain is not None else 0
        scale = max(1, min((rect.width - 2 * m) // view.shape[1],
                           (rect.height - self.title_height - legend - 2 * m) // view.shape[0]))
        image = gain_overlay(view, gain, scale)
        picture = pygame.image.frombuffer(image.tobytes(), image.shape[1::-1], "RGB")
        surface.blit(picture, (rect.x + m, rect.y + self.title_height + m))
        if gain is not None:
            span = f"{gain.min():.2f}-{gain.max():.2f}"
            if self._font(16).size(span)[0] + title_rect.width + 3 * m <= rect.width:  # else the legend says it
                self._text(surface, span, (rect.right - m, rect.y + max(1, self._px(4))), 16, DIM, anchor="topright")
            self._gain_legend(surface, rect.x + m, rect.y + self.title_height + m + image.shape[0] + max(1, self._px(3)))

    def _legend_items(self) -> list[tuple]:
        """The gain legend's items: (swatch kind, swatch colour, line width, text)."""
        dimmed = tuple(int(c * (1 - DIM_DEPTH)) for c in (200, 200, 200))
        return ([("box", dimmed, 0, f"<{1 - GAIN_DIM:g} dim")]
                + [("line", colour, width, f">{level:g}") for level, colour, width in GAIN_CONTOURS]
                + [(None, None, 0, "(mean 1)")])

    def _legend_rows(self, width: int) -> list[list[tuple]]:
        """The legend's items in rows that fit `width` output pixels (one row at full size)."""
        font, swatch, gap = self._font(15), self._px(15) or 1, max(4, self._px(8))
        rows, used = [[]], 0
        for item in self._legend_items():
            need = (swatch + 2 if item[0] else 0) + font.size(item[3])[0]
            if rows[-1] and used + gap + need > width:
                rows.append([])
                used = 0
            used += (gap if rows[-1] else 0) + need
            rows[-1].append(item)
        return rows

    def _gain_legend(self, surface, x0: int, y: int) -> None:
        """How `gain_overlay` draws the gain: a dimmed swatch for < 1, a line per contour level."""
        line = self._font(15).get_height() + 2
        swatch, gap = self._px(15) or 1, max(4, self._px(8))
        for row in self.legend_lines:
            x = x0
            for kind, colour, width, text in row:
                middle = y + line // 2
                if kind == "box":
                    pygame.draw.rect(surface, colour, (x, middle - max(2, self._px(5)), self._px(12) or 1, max(4, self._px(10))))
                elif kind == "line":
                    pygame.draw.rect(surface, colour, (x, middle, swatch - 1, width + 1))
                x += swatch + 2 if kind else 0
                x = self._text(surface, text, (x, y), 15, DIM).right + gap
            y += line

    def _policy(self, surface, rect) -> None:
        m, px = self.margin, self._px
        pygame.draw.rect(surface, PANEL, rect)
        names, values, value = self.session.policy()
        self._text(surface, getattr(self.session, "policy_title", "policy"), (rect.x + m, rect.y + max(1, px(3))), 18)
        if value is not None:
            self._text(surface, f"value {value:+.2f}", (rect.right - m, rect.y + max(1, px(4))), 16, DIM,
                       anchor="topright")
        signed = not self.session.discrete  # Gaussian means in [-1, 1], drawn from the middle
        label = max(self._font(16).size(name)[0] for name in names) + 2 * m
        number = self._font(16).size("+0.00")[0] + m
        bar_left, bar_width = rect.x + max(px(100), label), rect.width - max(px(100), label) - max(px(50), number)
        pitch = min(max(px(22), self._font(16).get_height() + 2), (rect.height - self.title_height - 4) // len(names))
        bar = max(2, pitch - max(2, px(6)))
        for row, (name, p) in enumerate(zip(names, values)):
            y = rect.y + self.title_height + max(2, px(6)) + row * pitch
            self._text(surface, name, (rect.x + m, y), 16, DIM)
            pygame.draw.rect(surface, BACKGROUND, (bar_left, y, bar_width, bar))
            if signed:
                middle, w = bar_left + bar_width // 2, int(round(float(p) * bar_width / 2))
                pygame.draw.rect(surface, TEXT, (min(middle, middle + w), y, abs(w), bar))
                pygame.draw.line(surface, DIM, (middle, y - 1), (middle, y + bar), 1)
            else:
                pygame.draw.rect(surface, TEXT, (bar_left, y, int(round(float(p) * bar_width)), bar))
            self._text(surface, f"{float(p):+.2f}" if signed else f"{float(p):.2f}", (rect.right - m, y), 16,
                       anchor="topright")

    def _gates(self, surface, rect) -> None:
        m, px = self.margin, self._px
        pygame.draw.rect(surface, PANEL, rect)
        self._text(surface, "what / where gates", (rect.x + m, rect.y + max(1, px(3))), 18)
        gates = self.session.internals["gates"]  # (2,) in [0, 1]
        label = self._font(18).size("where")[0] + 2 * m
        number = self._font(18).size("0.00")[0] + m
        bar_left = rect.x + max(px(64), label)
        bar_width = rect.right - max(px(52), number) - bar_left
        pitch = max(px(36), self._font(18).get_height() + 4)
        height = max(px(18), self._font(18).get_height())
        for row, (name, value) in enumerate(zip(("what", "where"), gates)):
            y = rect.y + self.title_height + max(2, px(14)) + row * pitch
            self._text(surface, name, (rect.x + m, y), 18, DIM)
            pygame.draw.rect(surface, BACKGROUND, (bar_left, y, bar_width, height))
            pygame.draw.rect(surface, TEXT, (bar_left, y, int(round(bar_width * float(value))), height))
            self._text(surface, f"{float(value):.2f}", (rect.right - m, y), 18, anchor="topright")

    def _channel_gain(self, surface, rect) -> None:
        m, px = self.margin, self._px
        pygame.draw.rect(surface, PANEL, rect)
        title = "channel gain (feature attention); colour = the channel's preferred berry"
        if self._font(16).size(title)[0] > rect.width - 2 * m:
            title = "channel gain; colour = preferred berry"
        self._text(surface, title, (rect.x + m, rect.y + max(1, px(3))), 16)
        layers = [key for key in self.session.internals if key.startswith("channel_gain/")]
        bars_left = rect.x + max(px(52), max(self._font(16).size(k.split("/", 1)[1])[0] for k in layers) + 2 * m)
        bars_width = rect.right - m - bars_left
        row_height = (rect.height - self.title_height - m) // len(layers)
        letter = self.letter_height
        for row, key in enumerate(layers):
            gains = self.session.internals[key]  # (C,)
            preferred = self.preferred.get(key, [None] * len(gains))
            pitch = bars_width / len(gains)
            widest = max(self._font(14).size(name[0])[0] for name in PALETTE_NAMES)
            staggered = pitch < widest + 2  # too narrow for a letter under every bar: two rows of letters
            bar_height = row_height - (2 * letter if staggered else letter) - max(3, px(8))
            top = rect.y + self.title_height + max(2, px(4)) + row * row_height
            base = top + bar_height
            self._text(surface, key.split("/", 1)[1], (rect.x + m, top + bar_height // 2 - letter // 2), 16, DIM)
            unit = bar_height / self.gain_max
            for i, (gain, colour) in enumerate(zip(gains, preferred)):
                x = int(bars_left + i * pitch)
                w = max(1, int(bars_left + (i + 1) * pitch) - x - max(1, px(2)))
                h = int(round(min(float(gain), self.gain_max) * unit))
                pygame.draw.rect(surface, UNLABELLED if colour is None else PALETTE_RGB[colour], (x, base - h, w, h))
                name = "-" if colour is None else PALETTE_NAMES[colour][0]
                lower = letter if staggered and i % 2 else 0
                self._text(surface, name, (x + w // 2, base + 1 + lower), 14, DIM, anchor="midtop")
            one = base - int(round(unit))  # the gain-1 line: no attention
            pygame.draw.line(surface, DIM, (bars_left, one), (rect.right - m, one), 1)

    def _plot(self, surface, rect) -> None:
        m, px = self.margin, self._px
        pygame.draw.rect(surface, PANEL, rect)
        s = self.session
        has_dopamine = "dopamine" in s.internals
        y = rect.y + max(1, px(3))
        x = self._text(surface, "reward", (rect.x + m, y), 18, REWARD_UP).right
        if has_dopamine:
            x = self._text(surface, "and dopamine (TD error)", (x + max(3, px(6)), y), 18, DOPAMINE).right
            trace = s.internals.get("trace_norm")
            if trace is not None:
                self._text(surface, f"Hebbian trace |H| {float(trace):.2f}", (rect.right - m, y), 16, DIM,
                           anchor="topright")
        self._text(surface, f"last {s.history.maxlen} steps", (x + max(4, px(10)), y), 14, DIM)
        top = rect.y + self.title_height + max(2, px(6))
        area = pygame.Rect(rect.x + m, top, rect.width - 2 * m, max(4, rect.bottom - max(2, px(6)) - top))
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
            pygame.draw.lines(surface, DOPAMINE, False, points, max(1, px(2)))

    def _help(self, surface) -> None:
        lines = [("keys", "")] + list(getattr(self.session, "key_help", KEY_HELP))
        font = self._font(20)
        pitch = font.get_height() + max(2, self._px(8))
        pad = max(6, self._px(20))
        key_width = max(font.size(key)[0] for key, _ in lines) + pad
        box = pygame.Rect(0, 0, 2 * pad + key_width + max(font.size(action)[0] for _, action in lines),
                          2 * max(4, self._px(10)) + pitch * len(lines))
        box.center = (self.size[0] // 2, self.size[1] // 2)
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill((0, 0, 0, 215))
        surface.blit(shade, box)
        pygame.draw.rect(surface, DIM, box, 1)
        for row, (key, action) in enumerate(lines):
            y = box.y + max(4, self._px(10)) + pitch * row
            self._text(surface, key, (box.x + pad, y), 20, PAUSED if row else TEXT)
            self._text(surface, action, (box.x + pad + key_width, y), 20)

    # -- text -----------------------------------------------------------------------------------

    def _font(self, size: int) -> pygame.font.Font:
        """The font of text designed at pygame size `size` for FRAME_SIZE, at this renderer's scale (`font_for`)."""
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = font_for(size, self.scale)
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


def new_frame(scale: float = 1.0) -> pygame.Surface:
    """A Surface for one frame at `scale` (`frame_size`)."""
    return pygame.Surface(frame_size(scale))
