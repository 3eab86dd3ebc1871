"""The viewer's command: parse the flags, load the session, then run a window or record headless.

Both modes draw every frame with `FrameRenderer.draw` onto one Surface; the window blits it, the
recorder writes its pixels. All input is checked, and the checkpoint loaded, before a window
opens, so bad input ends with a one-line message and exit code 2, never a half-open window.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Optional

import gymnasium as gym
import torch

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

import envs  # noqa: E402
from envs.config import PALETTE_NAMES  # noqa: E402
from envs.draw import surface_to_array  # noqa: E402
from training.config import MAX_SEED  # noqa: E402
from common.files import atomic_path, unwritable_dir  # noqa: E402
from common.flags import first_line, parse_flags, safe_streams  # noqa: E402
from common.video import MP4_HINT, VideoError, ffmpeg_binary, writer_for  # noqa: E402
from viewer.keys import command_for  # noqa: E402
from viewer.panels import FrameRenderer, new_frame  # noqa: E402
from viewer.play import Player, PlaySession  # noqa: E402
from viewer.session import Session, WatchError, load_session  # noqa: E402

SPEEDS = (1, 2, 4, 8, 15, 30, 60, 120)  # steps per second that + and - move between
MESSAGE_SECONDS = 2.5  # how long a key's note stays in the HUD


@dataclass
class WatchArgs:
    """Watch a trained forager forage, with its attention, gates and dopamine drawn beside the arena.

    Keys in the window: H help, space pause, right arrow one step while paused, + and - speed,
    1-6 or r o y c b m the goal colour (cued tasks), L cut/restore the feedback, Tab the next forager
    (MultiBerry-v1), shift+R reset, Esc or Q quit.
    """

    checkpoint: Optional[str] = None
    """A checkpoint .pt or a run directory written by scripts/train.py; default: assets/demo.pt."""
    env: Optional[str] = None
    """World to watch it in, with the checkpoint's world settings: RedBerry-v1, CuedBerry-v1,
    ReversalBerry-v1 or MultiBerry-v1 (one arena; the agent drives every forager); default: the world
    it was trained on."""
    episodes: Optional[int] = None
    """Stop once this many episodes have ended (a recording with neither limit stops after 1)."""
    frames: Optional[int] = None
    """Stop after this many frames."""
    fps: float = 15.0
    """Steps per second at the start (+ and - change it); the frame rate of a recording."""
    seed: int = 0
    """Seed of the world and of the agent's action sampling."""
    record: Optional[str] = None
    """Write the frames to this .gif (or .mp4, with ffmpeg on PATH) headless, with no window."""
    scale: float = 1.0
    """Size of the frame relative to 1000x580, in the window and the recording (e.g. 0.6)."""
    forager: int = 0
    """On MultiBerry-v1: the forager whose view, internals and episode are shown (Tab: the next)."""
    cue_switch: Optional[int] = None
    """With --record on a cued task: every this many steps, cue another colour that has a berry in
    the field (the next round the palette), to show the agent turning to it."""
    play: bool = False
    """Forage yourself: arrow keys drive the forager (up forward, left/right turn; the world waits while no
    arrow is held); no checkpoint needed. On MultiBerry you drive --forager, the others are scripted (or the
    --checkpoint's agent). Every episode is written to --play-records for compare.py --human."""
    play_records: str = "runs/play"
    """With --play: the folder each episode's record is written to (one JSON file per episode)."""
    play_view: str = "arena"
    """With --play: arena (the arena from above, the forager's view beside it) or retina (only the forager's
    own view, as an agent sees it)."""
    difficulty: Optional[str] = None
    """With --play and no --checkpoint: the world's difficulty preset (easy, medium, hard); default easy."""
    max_episode_steps: Optional[int] = None
    """With --play and no --checkpoint: steps per episode; default the world's (500)."""
    action_type: Optional[str] = None
    """With --play and no --checkpoint: discrete (default) or continuous (keys set the velocities)."""


def check_args(args: WatchArgs) -> None:
    """Raise WatchError naming the first bad flag."""
    def need(flag: str, value, ok: bool, allowed: str) -> None:
        if not ok:
            raise WatchError(f"--{flag.replace('_', '-')}: got {value!r}; allowed: {allowed}")

    def positive_int(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    for flag in ("frames", "episodes", "cue_switch"):
        value = getattr(args, flag)
        need(flag, value, value is None or positive_int(value), "an integer >= 1")
    need("fps", args.fps, math.isfinite(args.fps) and 0 < args.fps <= 240, "a number in (0, 240]")
    need("scale", args.scale, math.isfinite(args.scale) and 0.1 <= args.scale <= 4, "a number in [0.1, 4]")
    need("seed", args.seed, isinstance(args.seed, int) and 0 <= args.seed <= MAX_SEED, f"an integer from 0 to {MAX_SEED:,}")
    need("forager", args.forager, isinstance(args.forager, int) and args.forager >= 0,
         "an integer >= 0 (a MultiBerry forager's number)")
    for flag in ("difficulty", "max_episode_steps", "action_type"):
        if getattr(args, flag) is not None and not args.play:
            need(flag, getattr(args, flag), False, "only with --play (watching, the checkpoint sets the world)")
        if getattr(args, flag) is not None and args.checkpoint is not None:
            need(flag, getattr(args, flag), False, "only without --checkpoint (the checkpoint sets the world)")
    need("max_episode_steps", args.max_episode_steps, args.max_episode_steps is None or positive_int(args.max_episode_steps),
         "an integer >= 1")
    need("play_view", args.play_view, args.play_view in ("arena", "retina"), "arena or retina")
    if args.play and args.record is not None:
        raise WatchError(f"--play: a person plays in a window; got --record {args.record!r} too; allowed: one of them")
    if args.play:
        problem = unwritable_dir(args.play_records)
        need("play_records", args.play_records, problem is None, f"a folder that can be written ({problem})")
    if args.cue_switch is not None and args.record is None:
        raise WatchError(f"--cue-switch: got {args.cue_switch!r} without --record; allowed: with --record "
                         f"(in the window, press 1-6 to change the cue)")
    if args.record is not None:
        kind = os.path.splitext(args.record)[1].lower()
        need("record", args.record, kind in (".gif", ".mp4"), "a file name ending in .gif or .mp4")
        if kind == ".mp4" and ffmpeg_binary() is None:
            raise WatchError(f"--record: writing {args.record!r} needs ffmpeg, which is not installed; {MP4_HINT}; "
                             f"allowed here: a .gif file")
        folder = os.path.dirname(os.path.abspath(args.record))
        need("record", args.record, os.path.isdir(folder), f"a file in an existing directory ({folder} is not one)")
        need("record", args.record, not os.path.isdir(args.record), "a file name (this is a directory)")
        problem = unwritable_dir(folder)
        need("record", args.record, problem is None, f"a file in a writable directory ({folder}: {problem})")


class Controls:
    """What the keys change: pause, speed, help, and the session's goal, lesion and episode."""

    def __init__(self, session: Session, speed: float):
        self.session = session
        self.speed = speed  # steps per second
        self.paused = False
        self.show_help = False
        self.running = True
        self.pending_steps = 0  # single steps asked for while paused
        self.message = ""
        self.message_left = 0.0  # seconds

    def handle(self, event: pygame.event.Event) -> None:
        command = command_for(event)
        if command is not None:
            self.apply(command)

    def apply(self, command: tuple) -> None:
        name = command[0]
        s = self.session
        if name == "quit":
            self.running = False
        elif name == "help":
            self.show_help = not self.show_help
        elif name == "pause":
            self.paused = not self.paused
        elif name == "step":
            if self.paused:
                self.pending_steps += 1
            else:
                self.note("right arrow steps one frame while paused (space pauses)")
        elif name in ("faster", "slower"):
            if name == "faster":
                self.speed = next((v for v in SPEEDS if v > self.speed), self.speed)
            else:
                self.speed = next((v for v in reversed(SPEEDS) if v < self.speed), self.speed)
            self.note(f"speed {self.speed:g} steps/s")
        elif name == "goal":
            if s.goal_settable:
                s.set_goal(command[1])
                self.note(f"goal set to {PALETTE_NAMES[command[1]]}")
            else:
                self.note(f"the goal is fixed on {s.env_id}; watch a cued task (--env CuedBerry-v1) to change it"
                          f"{' (shift+R resets)' if command[1] == 0 else ''}")
        elif name == "lesion":
            if s.has_feedback:
                self.note("feedback cut: gains fixed at 1" if s.toggle_feedback_lesion() else "feedback restored")
            else:
                self.note(f"the {s.preset} agent has no feedback to cut")
        elif name == "forager":
            if s.num_slots > 1:
                self.note(f"watching forager {s.next_forager()}")
            else:
                self.note(f"{s.env_id} has one forager; watch MultiBerry-v1 (--env MultiBerry-v1) for several")
        elif name == "reset":
            s.reset()
            self.note("reset: new episode")

    def note(self, text: str) -> None:
        self.message, self.message_left = text, MESSAGE_SECONDS

    def fade(self, seconds: float) -> None:
        """`seconds` pass for the HUD's note, which goes after MESSAGE_SECONDS."""
        self.message_left = max(0.0, self.message_left - seconds)
        if self.message_left == 0.0:
            self.message = ""

    def steps_due(self, seconds: float, owed: float) -> tuple[int, float]:
        """Steps to take after `seconds` of wall time, given `owed` fractional steps; returns (steps, owed)."""
        self.fade(seconds)
        if self.paused:
            steps, self.pending_steps = self.pending_steps, 0
            return steps, 0.0
        owed += seconds * self.speed
        steps = int(owed)
        return steps, owed - steps


def draw(renderer: FrameRenderer, frame: pygame.Surface, controls: Controls) -> None:
    renderer.draw(frame, paused=controls.paused, speed=controls.speed, show_help=controls.show_help,
                  message=controls.message)


def check_display(args: WatchArgs) -> None:
    """Refuse a window without limits where SDL has no display (its offscreen or dummy driver): nobody could
    see it or press Q, so it would run until killed. With --frames or --episodes it runs headless that long."""
    if args.frames is not None or args.episodes is not None:
        return
    try:
        pygame.display.init()
        driver = pygame.display.get_driver()
    except pygame.error:
        return  # `watch` says there is no display
    finally:
        pygame.display.quit()
    if driver in ("offscreen", "dummy"):
        raise WatchError(f"no display to show a window on (SDL video driver {driver!r}); record headless instead, "
                         f"e.g. --record out.gif, or give --frames N or --episodes N to run headless that long")


def open_window(caption: str, size: tuple[int, int]) -> pygame.Surface:
    """The window, or WatchError where there is no display."""
    try:
        pygame.display.init()
        pygame.display.set_caption(caption)
        return pygame.display.set_mode(size)
    except pygame.error as exc:
        pygame.display.quit()
        raise WatchError(f"no display to open a window on (pygame: {exc}); record headless instead, "
                         f"e.g. --record out.gif") from None


def show(window: pygame.Surface, frame: pygame.Surface, frames: int, session, args: WatchArgs) -> bool:
    """Put the drawn ``frame`` (the ``frames``-th) on the window; False once --frames or --episodes are done."""
    window.blit(frame, (0, 0))
    pygame.display.flip()
    if args.frames is not None and frames >= args.frames:
        return False
    return args.episodes is None or session.episodes_done < args.episodes


def watch(session: Session, args: WatchArgs) -> int:
    """The window: keys, real-time stepping, one Surface blitted per frame. Returns frames drawn."""
    renderer, frame = FrameRenderer(session, args.scale), new_frame(args.scale)  # drawn at the window's size
    controls = Controls(session, args.fps)
    window = open_window("RedBerry: watch a forager", frame.get_size())
    clock, owed, frames = pygame.time.Clock(), 0.0, 0
    try:
        while controls.running:
            for event in pygame.event.get():
                controls.handle(event)
            seconds = min(clock.tick(min(60.0, max(30.0, controls.speed))) / 1000.0, 0.25)
            steps, owed = controls.steps_due(seconds, owed)
            for _ in range(steps):
                session.step()
            draw(renderer, frame, controls)
            frames += 1
            if not show(window, frame, frames, session, args):
                break
    finally:
        pygame.display.quit()
    return frames


def record(session: Session, args: WatchArgs) -> int:
    """Headless: one step per frame, frames written to args.record. Returns frames written."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"  # nothing here opens a window; make sure nothing can
    # Drawn at the recording's own size, with text no smaller than panels.MIN_TEXT_PX, and without the live
    # controls' hints (speed, pause, "H: help"), which mean nothing in a file.
    renderer, frame = FrameRenderer(session, args.scale, hints=False), new_frame(args.scale)
    controls = Controls(session, args.fps)
    episodes = args.episodes if args.episodes is not None or args.frames is not None else 1
    if args.cue_switch is not None and not session.goal_settable:
        raise WatchError(f"--cue-switch: {session.env_id} does not let the cue change; allowed: a cued task "
                         f"(--env CuedBerry-v1)")
    frames = 0
    with atomic_path(args.record) as tmp:  # a half-written recording never takes the name
        try:
            writer = writer_for(tmp, args.fps, args.record)
        except VideoError as exc:
            raise WatchError(f"--record: {exc}") from None
        try:
            while True:
                if frames:
                    session.step()
                    if args.cue_switch is not None and frames % args.cue_switch == 0:
                        controls.note(f"cue switched to {PALETTE_NAMES[session.switch_cue()]}")
                    controls.fade(1.0 / args.fps)  # one frame's time: the note goes as in the window
                draw(renderer, frame, controls)
                writer.add(surface_to_array(frame))
                frames += 1
                if args.frames is not None and frames >= args.frames:
                    break
                if episodes is not None and session.episodes_done >= episodes:
                    break
            writer.close()
        except VideoError as exc:
            raise WatchError(f"--record: {exc}") from None
        finally:
            writer.discard()
    return frames


def play_session(args: WatchArgs) -> PlaySession:
    """The world a person plays (`--play`): the checkpoint's (whose agent drives MultiBerry's other foragers),
    or --env (default CuedBerry-v1) with --difficulty, --max-episode-steps and --action-type."""
    if args.checkpoint is not None:
        watched = load_session(args.checkpoint, args.env, args.seed, args.forager)
        agent = watched.agent if watched.num_slots > 1 else None
        return PlaySession(watched.env, watched.env_id, args.seed, args.forager, agent, args.play_view,
                           args.play_records, watched.checkpoint, args.fps)
    env_id = args.env or "CuedBerry-v1"
    if env_id not in envs.ENV_IDS:
        raise WatchError(f"--env: got {env_id!r}; allowed: {', '.join(sorted(envs.ENV_IDS))}")
    kwargs = {name: getattr(args, name) for name in ("difficulty", "max_episode_steps", "action_type")
              if getattr(args, name) is not None}
    try:
        env = gym.make_vec(env_id, num_envs=1, device="cpu", **kwargs)
    except (ValueError, TypeError) as exc:
        flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in kwargs.items())
        raise WatchError(f"{flags or '--env ' + env_id}: {first_line(exc)}") from None
    try:
        return PlaySession(env, env_id, args.seed, args.forager, None, args.play_view, args.play_records, None, args.fps)
    except ValueError as exc:
        raise WatchError(str(exc)) from None


def play(session: PlaySession, args: WatchArgs) -> int:
    """The window in which a person drives the forager (`viewer.play.Player`). Every finished episode is
    written as it ends; on quit, a closed window or Ctrl-C the episode in progress is written as partial.
    Returns frames drawn."""
    renderer, frame = FrameRenderer(session, args.scale), new_frame(args.scale)
    player = Player(session, args.fps)
    window = open_window("RedBerry: forage (arrow keys; H: keys)", frame.get_size())
    clock, frames = pygame.time.Clock(), 0
    try:
        while player.running:
            player.frame(min(clock.tick(60) / 1000.0, 0.25))
            renderer.draw(frame, paused=player.paused, speed=args.fps, show_help=player.show_help,
                          message=player.message)
            frames += 1
            if not show(window, frame, frames, session, args):
                break
    finally:
        pygame.display.quit()
        partial = session.finish()
        done = len(session.written) - (partial is not None)
        print(f"wrote {done} episode record{'s' if done != 1 else ''} to {args.play_records}"
              + (f", and the episode in progress as partial: {partial}" if partial else
                 "; the episode in progress had no step, so nothing of it was saved" if session.tally.steps == 0
                 else ""), flush=True)
    return frames


def main(argv: Optional[list[str]] = None) -> int:
    """`scripts/watch.py`: returns the exit code (2 for bad input, with a one-line message)."""
    safe_streams()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one world, one small net: extra threads only spin against the drawing
    args = None
    try:
        args = parse_flags(WatchArgs, argv, "watch.py", WatchError)
        check_args(args)
        if args.play:
            check_display(args)
            play(play_session(args), args)
            return 0
        session = load_session(args.checkpoint, args.env, args.seed, args.forager)
        if args.record is None:
            check_display(args)
            watch(session, args)
        else:
            frames = record(session, args)
            print(f"wrote {args.record}: {frames} frames")
    except WatchError as exc:
        print(f"watch.py: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output left (`watch.py --help | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # the recording could not be written (a full disk, a folder that went away)
        recording = getattr(args, "record", None)
        where = f"--record {recording!r}: " if recording else (f"{exc.filename}: " if exc.filename else "")
        print(f"watch.py: error: {where}{exc.strerror or exc}{'; nothing was written' if recording else ''}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        torch.set_num_threads(threads)
    return 0
