"""The viewer's keys: one table for the help overlay and the README, one function from key to command."""

from __future__ import annotations

import os
from typing import Optional

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from envs.config import PALETTE_NAMES  # noqa: E402

GOAL_LETTERS = "".join(name[0] for name in PALETTE_NAMES)  # "roycbm": red, orange, ... magenta

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("H", "show or hide this help"),
    ("space", "pause / resume"),
    ("right arrow", "one step while paused"),
    ("+ / -", "faster / slower"),
    ("1-6 or r o y c b m", "goal colour: red orange yellow cyan blue magenta (cued tasks)"),
    ("L", "cut / restore the top-down feedback (lesion)"),
    ("Tab", "watch the next forager (MultiBerry-v1)"),
    ("shift+R", "reset: start a new episode"),
    ("Esc or Q", "quit"),
)

Command = tuple  # ("quit",), ("goal", index), ...


def key_text(event: pygame.event.Event) -> str:
    """The character a KEYDOWN event types ("" for none), from its unicode or, failing that, its key."""
    text = getattr(event, "unicode", "") or ""
    if not text and 32 <= event.key < 127:
        text = chr(event.key)
        if getattr(event, "mod", 0) & pygame.KMOD_SHIFT:
            text = text.upper()
    return text


def command_for(event: pygame.event.Event) -> Optional[Command]:
    """The command a pygame event asks for, or None. Goal letters are lower case, so that
    shift+R (reset) and r (red) are different keys."""
    if event.type == pygame.QUIT:
        return ("quit",)
    if event.type != pygame.KEYDOWN:
        return None
    key, text = event.key, key_text(event)
    if key == pygame.K_ESCAPE or text in ("q", "Q"):
        return ("quit",)
    if text in ("h", "H") or key == pygame.K_F1:
        return ("help",)
    if key == pygame.K_SPACE:
        return ("pause",)
    if key == pygame.K_RIGHT:
        return ("step",)
    if text in ("+", "=") or key == pygame.K_KP_PLUS:
        return ("faster",)
    if text in ("-", "_") or key == pygame.K_KP_MINUS:
        return ("slower",)
    if len(text) == 1 and text in "123456":
        return ("goal", int(text) - 1)
    if len(text) == 1 and text in GOAL_LETTERS:
        return ("goal", GOAL_LETTERS.index(text))
    if text in ("l", "L"):
        return ("lesion",)
    if key == pygame.K_TAB:
        return ("forager",)
    if text == "R":
        return ("reset",)
    return None
