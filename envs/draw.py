"""Top-down drawing of one world with pygame: the one renderer behind `render_mode` and the viewer.

It reads world `index` of a batched `envs.arena.View` (a WorldState is one; MultiBerry draws
`arena_view`), one small host copy per frame, and draws the arena, the walls, the berries in their
true colours, the foliage, the forager and its field of view. `draw_arena` draws onto any pygame Surface (the viewer uses it inside its window);
`draw_arena_frame` returns a numpy frame.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from envs.arena import View  # noqa: E402
from envs.config import FLOOR_RGB, FOLIAGE_RGB, FORAGER_RGB, PALETTE_RGB, WALL_RGB, WorldConfig  # noqa: E402
from envs.retina import FORAGER_ROW_FROM_BOTTOM  # noqa: E402

WALL_WIDTH = 0.35  # world units of wall drawn around the arena
OTHER_FORAGER_RGB = (250, 250, 250)


def _world_to_screen(config: WorldConfig, rect: pygame.Rect):
    span = config.arena_size + 2 * WALL_WIDTH
    scale = min(rect.width, rect.height) / span

    def to_screen(x: float, y: float) -> tuple[int, int]:
        return (int(round(rect.left + (x + WALL_WIDTH) * scale)),
                int(round(rect.top + (config.arena_size + WALL_WIDTH - y) * scale)))

    return to_screen, scale


def draw_arena(surface: pygame.Surface, config: WorldConfig, state: View, index: int, rect: pygame.Rect,
               poses: np.ndarray | None = None) -> None:
    """Draw world `index` of `state` into `rect` of `surface`.

    poses: optional (M, 3) array of every forager's pose in a multi-forager world; the first is
    drawn as "self" with its field of view. Default: the state's own single pose.
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
    for (x, y), alive, colour in zip(berry_pos, present, colours):
        if alive:
            pygame.draw.circle(surface, PALETTE_RGB[int(colour)], to_screen(x, y), berry_px)

    if config.num_foliage:
        overlay = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
        foliage_px = max(2, int(round(config.foliage_radius * scale)))
        for x, y in state.foliage_pos[index].detach().cpu().numpy():
            pygame.draw.circle(overlay, (*FOLIAGE_RGB, 170), to_screen(x, y), foliage_px)
        surface.blit(overlay, (0, 0))

    if poses is None:
        poses = state.pose[index].detach().cpu().numpy()[None]
    forager_px = max(3, int(round(config.forager_radius * scale)))
    for k, (x, y, heading) in enumerate(poses):
        colour = FORAGER_RGB if k == 0 else OTHER_FORAGER_RGB
        centre = to_screen(x, y)
        pygame.draw.circle(surface, colour, centre, forager_px)
        tip = to_screen(x + np.cos(heading) * config.forager_radius * 1.6, y + np.sin(heading) * config.forager_radius * 1.6)
        pygame.draw.line(surface, (20, 20, 20), centre, tip, max(1, forager_px // 3))
    _draw_field_of_view(surface, config, poses[0], to_screen)


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
    pygame.draw.lines(surface, (250, 250, 160), True, corners, 1)


def draw_arena_frame(config: WorldConfig, state: View, index: int = 0, size: int = 384, poses=None) -> np.ndarray:
    """World `index` drawn top-down: (size, size, 3) uint8."""
    surface = pygame.Surface((size, size))
    draw_arena(surface, config, state, index, surface.get_rect(), poses)
    return surface_to_array(surface)


def surface_to_array(surface: pygame.Surface) -> np.ndarray:
    """A pygame Surface as an (H, W, 3) uint8 array."""
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))

