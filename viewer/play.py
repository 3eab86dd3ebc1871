"""A person forages: `watch.py --play` lets a person drive one forager with the arrow keys, in any of
RedBerry's worlds, and writes every episode as a record that `compare` can show beside its reference
foragers (`compare.references.load_play_records`).

Keys: up forward, left / right turn, up + left / right forward-left / forward-right (the Discrete
actions, `envs.actions.DISCRETE_ACTIONS`); in a continuous-action world up / down set the linear
velocity to +1 / -1 and left / right the angular one. The world waits while no arrow is held, so a
person is never timed out of a step: an episode is `max_episode_steps` actions, as an agent's is.
On MultiBerry the person drives forager `--forager` (0 by default); the others are the scripted
forager, or the agent of `--checkpoint` where one is given.

The record of one episode (`PlaySession.record`) has the numbers `compare.evaluate.run_episodes`
measures per world (return, targets and distractors eaten, precision, steps to the first target and
the clean steps to a first target eaten before any distractor, both censored at the episode's
length), with what identifies its world: the env id, the whole world config, the world seed and the
episode's number after it, the goal shown and the colour that paid. Each is written atomically
(`common.files.write_json`) as its own file, so a crash loses at most the episode in progress; an
episode cut short (Esc, the window closed, Ctrl-C) is written with "partial": true, which compare
leaves out.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import uuid
from collections import deque
from typing import Optional

import numpy as np
import torch

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

import envs  # noqa: E402
from agents.runner import Carry, env_action, sample  # noqa: E402
from common.files import write_json  # noqa: E402
from envs.config import PALETTE_NAMES  # noqa: E402
from envs.world import ACTION_NAMES  # noqa: E402
from viewer.session import HISTORY, Session  # noqa: E402

PLAY_FORMAT = "redberry-play-episode"  # what a record says it is
PLAY_VERSION = 1
ARROWS = (pygame.K_UP, pygame.K_DOWN, pygame.K_LEFT, pygame.K_RIGHT)
PLAY_KEYS: tuple[tuple[str, str], ...] = (
    ("up", "forward"),
    ("left / right", "turn left / right"),
    ("up + left / right", "forward-left / forward-right"),
    ("down", "backward (continuous-action worlds only)"),
    ("(no arrow)", "the world waits for you"),
    ("space", "pause / resume"),
    ("H", "show or hide this help"),
    ("Esc or Q", "quit (the episode in progress is saved as partial)"),
)
# Discrete action index of each (up, left, right) held: forward 0, turn left 1, turn right 2, forward-left 3,
# forward-right 4 (`envs.actions.DISCRETE_ACTIONS`). Left and right together cancel.
_DISCRETE = {(True, False, False): 0, (False, True, False): 1, (False, False, True): 2,
             (True, True, False): 3, (True, False, True): 4, (True, True, True): 0}


def keys_action(held: set, discrete: bool):
    """The action of the arrow keys `held` (pygame key codes): a Discrete index, a (linear, angular) pair in
    [-1, 1] for continuous worlds, or None where they ask for no move (the world then waits)."""
    up, down = pygame.K_UP in held, pygame.K_DOWN in held
    left, right = pygame.K_LEFT in held, pygame.K_RIGHT in held
    if discrete:
        return _DISCRETE.get((up, left, right))
    linear, angular = float(up) - float(down), float(left) - float(right)
    return None if linear == 0.0 and angular == 0.0 else (linear, angular)


@dataclasses.dataclass
class Tally:
    """One forager's episode, step by step, measured as `compare.evaluate.run_episodes` measures a world's."""

    steps: int = 0
    first_target: Optional[int] = None  # the step (from 1) that ate the first target
    clean_first_target: Optional[int] = None  # the same, where no distractor was eaten before it or with it
    distractor_first: bool = False  # a distractor eaten before the first target, or with it

    def add(self, target: bool, distractor: bool) -> None:
        self.steps += 1
        if self.first_target is None:  # a distractor in the first target's step comes first, as in run_episodes
            self.distractor_first |= distractor
            if target:
                self.first_target = self.steps
                if not self.distractor_first:
                    self.clean_first_target = self.steps

    def measures(self, length: int) -> dict:
        """The per-episode measures; steps to a first target are censored at `length` where there was none."""
        return {"steps_to_first_target": float(self.first_target or length), "found": self.first_target is not None,
                "clean_steps_to_first_target": float(self.clean_first_target or length),
                "clean_found": self.clean_first_target is not None, "distractor_first": self.distractor_first}


class PlaySession(Session):
    """A world one of whose foragers a person drives (`step(action)`); it draws with the viewer's
    `FrameRenderer` (no agent panels) and writes each episode's record into `records`.

    `agent`: drives the other foragers of a MultiBerry arena (None: the scripted forager does).
    `view`: "arena" shows the arena from above with the forager's view beside it; "retina" shows only the
    forager's own view, as an agent sees it.
    """

    preset = "person"
    reveals_target = False  # on ReversalBerry the paying colour is not told to the player
    hint = "H: keys"
    policy_title = "your move (arrow keys)"
    key_help = PLAY_KEYS

    def __init__(self, env, env_id: str, seed: int = 0, forager: int = 0, agent=None, view: str = "arena",
                 records: Optional[str] = None, checkpoint: Optional[str] = None, speed: float = 15.0):
        self.env, self.agent, self.env_id, self.seed = env, agent, env_id, seed
        self.num_slots = env.num_envs
        if not (isinstance(forager, int) and 0 <= forager < self.num_slots):
            raise ValueError(f"--forager: got {forager!r}; allowed: 0 to {self.num_slots - 1} (the foragers of {env_id})")
        self.watched, self.view_kind, self.records, self.checkpoint, self.speed = forager, view, records, checkpoint, speed
        self.arena_hidden = view == "retina"
        self.driver = f"you (forager {forager})" if self.num_slots > 1 else "you"
        self.history: deque[tuple[float, float]] = deque(maxlen=HISTORY)
        self.internals: dict = {}
        self.last_action = None
        self.written: list[str] = []  # the records written, in order
        # in every record's file name: two sessions (even in one second, or at once) never write the same file
        self.session_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        self._episodes = np.zeros(self.num_slots, dtype=np.int64)
        self._episodes_done = np.zeros(self.num_slots, dtype=np.int64)
        self._restarting = False  # next-step autoreset: the step after an episode's end starts the next one
        self.finished = False
        if records is not None:
            os.makedirs(records, exist_ok=True)  # where the records will be, from the start
        torch.manual_seed(seed)
        self.obs, _ = env.reset(seed=seed)
        self._begin()

    # -- what a frame shows (the rest is Session's) -------------------------------------------------

    @property
    def discrete(self) -> bool:
        return self.config.action_type == "discrete"

    @property
    def lesioned(self) -> bool:
        return False

    @property
    def goal_settable(self) -> bool:
        return False

    def policy(self):
        """The move the keys made last: a bar per Discrete action, or the (linear, angular) pair; no value."""
        if self.discrete:
            return list(ACTION_NAMES), np.eye(len(ACTION_NAMES))[self.last_action] if self.last_action is not None \
                else np.zeros(len(ACTION_NAMES)), None
        return ["linear", "angular"], np.array(self.last_action or (0.0, 0.0)), None

    # -- stepping -----------------------------------------------------------------------------------

    def step(self, action) -> None:
        """The person's forager takes `action` (a Discrete index or a (linear, angular) pair); the others act
        as the scripted forager or the agent; an episode of the person's forager that ends is recorded."""
        w = self.watched
        if self.agent is not None:  # the agent acts for every forager, as trained; the person's move replaces its own
            moves = sample(self.out.dist).clone()  # (M,) or (M, 2)
            moves[w] = torch.as_tensor(action, dtype=moves.dtype)
            actions = env_action(moves)
        else:
            actions = envs.scripted_actions(self.env).clone()
            actions[w] = torch.as_tensor(action, dtype=actions.dtype)
        restarting = self._restarting
        self.obs, reward, terminated, truncated, info = self.env.step(actions)
        if self.agent is not None:
            self.carry = self.carry.advance(self.out, moves, reward, terminated, truncated)
        self.last_action = action
        self.history.append((float(reward[w]), math.nan))
        if restarting:  # this step reset the person's world: a new episode starts here
            self._restarting = False
            self._begin()
        else:
            self.tally.add(bool(info["target_eaten"][w] > 0), bool(info["distractor_eaten"][w] > 0))
            if bool(info["_forage"][w]):
                episode = info["forage"]
                self._write(float(episode["r"][w]), float(episode["target_eaten"][w]),
                            float(episode["distractor_eaten"][w]), partial=False)
                self._episodes_done[w] += 1
                self._restarting = True
        self._think()

    def finish(self) -> Optional[str]:
        """The session ends: the episode in progress, if it has a step, is written as a partial record.
        Returns its path, or None where there was nothing to save (or it was saved already)."""
        if self._restarting or self.tally.steps == 0 or self.finished:
            return None
        self.finished = True
        stats = self.episode_stats()
        return self._write(stats["return"], stats["targets"], stats["distractors"], partial=True)

    # -- internals ----------------------------------------------------------------------------------

    def _begin(self) -> None:
        """A new episode of the person's forager: its tally, the goal it is shown and the colour that pays."""
        self._episodes[self.watched] += 1
        self.tally = Tally()
        goal = self.obs["goal"][self.watched]
        self.goal_shown = PALETTE_NAMES[int(goal.argmax())] if bool(goal.any()) else None
        self.paying_colour = PALETTE_NAMES[self.target_colour]
        self.started = time.time()
        if self.agent is not None and not hasattr(self, "carry"):
            self.carry = Carry.start(self.agent, self.num_slots, "cpu")
        self._think()

    def _think(self) -> None:
        if self.agent is not None:
            with torch.no_grad():
                self.out = self.carry.act(self.agent, self.obs)

    def record(self, episode_return: float, targets: float, distractors: float, partial: bool) -> dict:
        """The record of the person's episode in progress (or just ended)."""
        eaten = targets + distractors
        config = dataclasses.asdict(self.config)
        return {
            "format": PLAY_FORMAT, "version": PLAY_VERSION, "player": "person", "partial": partial,
            "env_id": self.env_id, "world": config, "world_seed": self.seed, "episode": int(self._episodes[self.watched]),
            "forager": self.watched, "foragers": self.num_slots,
            "others": None if self.num_slots == 1 else (self.checkpoint or "scripted"),
            "view": self.view_kind, "steps_per_second": self.speed,
            "steps": self.tally.steps, "max_episode_steps": self.config.max_episode_steps,
            "goal_shown": self.goal_shown, "paying_colour": self.paying_colour,
            "return": episode_return, "target_eaten": targets, "distractor_eaten": distractors,
            "precision": targets / eaten if eaten > 0 else math.nan,
            **self.tally.measures(self.tally.steps if partial else self.config.max_episode_steps),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
        }

    def _write(self, episode_return: float, targets: float, distractors: float, partial: bool) -> Optional[str]:
        record = self.record(episode_return, targets, distractors, partial)
        if self.records is None:
            return None
        os.makedirs(self.records, exist_ok=True)
        name = (f"{self.env_id}__{self.session_id}__s{self.seed}__e{record['episode']:04d}"
                f"{'__partial' if partial else ''}.json")
        path = os.path.join(self.records, name)
        write_json(path, record, indent=1, sort_keys=True)  # atomic: a record is whole or absent
        self.written.append(path)
        return path


class Player:
    """The play loop, one frame at a time (`frame`), so that a test can post key events between frames.
    Arrow keys held are tracked from KEYDOWN / KEYUP events; while one is held, the world steps at
    `speed` steps per second (one step per frame at most)."""

    def __init__(self, session: PlaySession, speed: float):
        self.session = session
        self.speed = speed
        self.held: set[int] = set()
        self.paused = False
        self.show_help = False
        self.running = True
        self.message = ""
        self._owed = 1.0  # the first arrow steps at once

    def handle(self, event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYUP:
            self.held.discard(event.key)
        elif event.type == pygame.KEYDOWN:
            text = getattr(event, "unicode", "") or ""
            if event.key in ARROWS:
                self.held.add(event.key)
                if event.key == pygame.K_DOWN and self.session.discrete:
                    self.message = "no backward move in a Discrete-action world: up, left, right"
            elif event.key == pygame.K_ESCAPE or text in ("q", "Q") or event.key == pygame.K_q:
                self.running = False
            elif event.key == pygame.K_SPACE:
                self.paused = not self.paused
            elif text in ("h", "H") or event.key in (pygame.K_h, pygame.K_F1):
                self.show_help = not self.show_help

    def frame(self, seconds: float) -> bool:
        """Read the events, then step once if an arrow is held and a step is due after `seconds`; returns
        whether the world stepped."""
        for event in pygame.event.get():
            self.handle(event)
        action = keys_action(self.held, self.session.discrete)
        if not self.running or self.paused or action is None:
            self._owed = 1.0
            return False
        self._owed += seconds * self.speed
        if self._owed < 1.0:
            return False
        self._owed = min(self._owed - 1.0, 1.0)
        self.session.step(action)
        return True
