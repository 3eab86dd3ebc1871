"""render_mode handling shared by the single-forager and the PettingZoo envs.

`ArenaRendering.render()` returns the top-down frame in "rgb_array" mode and shows it in a pygame
window at `metadata["render_fps"]` in "human" mode; both draw through `envs.draw`. pygame is
imported only when a window opens.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class HumanWindow:
    """The pygame window of `render_mode="human"`: shows frames at a fixed rate."""

    def __init__(self, caption: str = "RedBerry"):
        self.caption = caption
        self.window = None
        self.clock = None

    def show(self, frame: np.ndarray, fps: int) -> None:
        import pygame

        if self.window is None:
            pygame.init()
            pygame.display.set_caption(self.caption)
            self.window = pygame.display.set_mode(frame.shape[1::-1])
            self.clock = pygame.time.Clock()
        pygame.event.pump()
        self.window.blit(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)), (0, 0))
        pygame.display.flip()
        self.clock.tick(fps)

    def close(self) -> None:
        if self.window is not None:
            import pygame

            pygame.display.quit()
            self.window = None


class ArenaRendering:
    """Mixin: `render()` and `close()` from a subclass's `_arena_frame()` and `render_mode`."""

    _window: HumanWindow | None = None

    def _arena_frame(self) -> np.ndarray:
        raise NotImplementedError

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() was called with render_mode=None; make the env with render_mode='rgb_array' or 'human'")
            return None
        frame = self._arena_frame()
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(type(self).__name__)
        self._window.show(frame, self.metadata["render_fps"])
        return None

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None
