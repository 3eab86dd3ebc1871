"""Top-down drawing of one world with pygame: the one renderer behind `render_mode` and the viewer.

It reads world `index` of an `envs.arena.WorldState` in its worlds' layout (the single-forager
worlds' own state; MultiBerry draws `arena_view` with every forager's pose), one small host copy per
frame, and draws the arena, the walls, the berries in their true colours, the foliage, the foragers (numbered and each in its own
colour when there are several) and the watched forager's field of view. `draw_arena` draws onto any pygame Surface (the viewer uses it inside its window);
`draw_arena_frame` returns a numpy frame.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from envs.arena import WorldState  # noqa: E402
from envs.config import FLOOR_RGB, FOLIAGE_RGB, FORAGER_RGB, PALETTE_RGB, WALL_RGB, WorldConfig  # noqa: E402
from envs.retina import FORAGER_ROW_FROM_BOTTOM  # noqa: E402

WALL_WIDTH = 0.35  # world units of wall drawn around the arena
FIELD_OF_VIEW_RGB = (250, 250, 160)  # the watched forager's field of view and ring
# Foragers' bodies: white (FORAGER_RGB), lime, lavender, pink, mint, light grey. Each is light, so it stands out on
# the dark floor and walls, and none is a berry's, the floor's or the foliage's colour (tests/test_world_state.py).
FORAGER_COLOURS = (FORAGER_RGB, (150, 240, 70), (175, 140, 255), (255, 165, 205), (120, 240, 190), (160, 160, 170))
_FONTS: dict[int, pygame.font.Font] = {}


def _world_to_screen(config: WorldConfig, rect: pygame.Rect):
    span = config.arena_size + 2 * WALL_WIDTH
    scale = min(rect.width, rect.height) / span

    def to_screen(x: float, y: float) -> tuple[int, int]:
        return (int(round(rect.left + (x + WALL_WIDTH) * scale)),
                int(round(rect.top + (config.arena_size + WALL_WIDTH - y) * scale)))

    return to_screen, scale


def draw_arena(surface: pygame.Surface, config: WorldConfig, state: WorldState, index: int, rect: pygame.Rect,
               poses: np.ndarray | None = None, alive: np.ndarray | None = None, watched: int = 0) -> None:
    """Draw world `index` of `state` into `rect` of `surface`.

    poses: optional (M, 3) array of every forager's pose in a multi-forager world, and alive its (M,)
    mask (default: all alive). Each living forager is drawn in its own colour (`forager_colour`) with
    its number, and forager `watched` also with a ring and its field of view. Default: the state's
    own single pose, drawn unnumbered.
    """
    to_screen, scale = _world_to_screen(config, rect)
    L = config.arena_size
    surface.fill(WALL_RGB, rect)
    top_left, bottom_right = to_screen(0.0, L), to_screen(L, 0.0)
    pygame.draw.rect(surface, FLOOR_RGB, pygame.Rect(top_left, (bottom_right[0] - top_left[0], bottom_right[1] - top_left[1])))

    berry_pos = state.berry_pos[index].detach().cpu().numpy()
    present = (state.berry_timer[index] == 0).detach().cpu().numpy()
    colours = state.berry_colour[index].detach().cpu().numpy()
    berry_px = max(2, int(round(config.berry_radius * scale)))
    for (x, y), alive_berry, colour in zip(berry_pos, present, colours):
        if alive_berry:
            pygame.draw.circle(surface, PALETTE_RGB[int(colour)], to_screen(x, y), berry_px)

    if config.num_foliage:
        overlay = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
        foliage_px = max(2, int(round(config.foliage_radius * scale)))
        for x, y in state.foliage_pos[index].detach().cpu().numpy():
            pygame.draw.circle(overlay, (*FOLIAGE_RGB, 170), to_screen(x, y), foliage_px)
        surface.blit(overlay, (0, 0))

    numbered = poses is not None and len(poses) > 1
    if poses is None:
        poses = state.pose[index].detach().cpu().numpy()[None]
    if alive is None:
        alive = np.ones(len(poses), dtype=bool)
    if not 0 <= watched < len(poses):
        raise ValueError(f"watched={watched!r} must be the index of one of the {len(poses)} foragers")
    forager_px = max(3, int(round(config.forager_radius * scale)))
    font = _number_font(forager_px) if numbered else None
    for k, ((x, y, heading), living) in enumerate(zip(poses, alive)):
        if not living:
            continue
        colour = forager_colour(k)
        centre = to_screen(x, y)
        if k == watched and numbered:
            pygame.draw.circle(surface, FIELD_OF_VIEW_RGB, centre, forager_px + max(2, forager_px // 3))
        pygame.draw.circle(surface, colour, centre, forager_px)
        ink = (20, 20, 20) if sum(colour) > 380 else (255, 255, 255)  # the number: dark or light, never a body colour
        # the heading: a tick from the centre, or, when the disc carries a number, from its rim outwards
        start = to_screen(x + np.cos(heading) * config.forager_radius, y + np.sin(heading) * config.forager_radius) \
            if numbered else centre
        tip = to_screen(x + np.cos(heading) * config.forager_radius * 1.6, y + np.sin(heading) * config.forager_radius * 1.6)
        pygame.draw.line(surface, (20, 20, 20) if numbered else ink, start, tip, max(1, forager_px // 3))
        if font is not None:
            label = font.render(str(k), True, ink)
            surface.blit(label, label.get_rect(center=centre))
    if alive[watched]:
        _draw_field_of_view(surface, config, poses[watched], to_screen)


def forager_colour(k: int) -> tuple[int, int, int]:
    """Forager k's body colour: white for the first (the single-forager worlds' forager), then light
    colours no berry, the floor or foliage has, repeating after `FORAGER_COLOURS`."""
    return FORAGER_COLOURS[k % len(FORAGER_COLOURS)]


def _number_font(forager_px: int) -> pygame.font.Font:
    if not pygame.font.get_init():
        pygame.font.init()
    size = max(10, int(forager_px * 1.6))
    font = _FONTS.get(size)
    if font is None:
        font = _FONTS[size] = pygame.font.Font(None, size)
    return font


def _draw_field_of_view(surface, config: WorldConfig, pose, to_screen) -> None:
    x, y, heading = pose
    px = config.pixel_size
    behind = -FORAGER_ROW_FROM_BOTTOM * px
    ahead = (config.view_size - FORAGER_ROW_FROM_BOTTOM) * px
    half = config.view_extent / 2
    c, s = np.cos(heading), np.sin(heading)
    corners = []
    for a, l in ((behind, half), (ahead, half), (ahead, -half), (behind, -half)):
        corners.append(to_screen(x + a * c - l * s, y + a * s + l * c))
    pygame.draw.lines(surface, FIELD_OF_VIEW_RGB, True, corners, 1)


def draw_arena_frame(config: WorldConfig, state: WorldState, index: int = 0, size: int = 384, poses=None, alive=None,
                     watched: int = 0) -> np.ndarray:
    """World `index` drawn top-down (`draw_arena`): (size, size, 3) uint8."""
    surface = pygame.Surface((size, size))
    draw_arena(surface, config, state, index, surface.get_rect(), poses, alive, watched)
    return surface_to_array(surface)


def surface_to_array(surface: pygame.Surface) -> np.ndarray:
    """A pygame Surface as an (H, W, 3) uint8 array."""
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))

