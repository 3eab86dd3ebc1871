"""The viewer: the command runs and records, the frame shows the world and the agent's mechanisms,
the keys act on the session, and bad input is one line on stderr with exit code 2."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pygame
import pytest
import torch
from PIL import Image

import agents
from envs.config import FLOOR_RGB, PALETTE_RGB, WALL_RGB
from envs.draw import FIELD_OF_VIEW_RGB, WALL_WIDTH, forager_colour, surface_to_array
from training import Config, save_checkpoint, train
from common.video import encode_gif, ffmpeg_binary
from viewer import DEMO_CHECKPOINT, load_session, main
from viewer.app import Controls, WatchArgs, watch
from viewer.keys import command_for
from viewer.panels import (BACKGROUND, DOPAMINE, FRAME_SIZE, GAIN_CONTOURS, MIN_TEXT_PX, TEXT, FrameRenderer, font_for,
                           gain_overlay, new_frame)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WATCH_SCRIPT = os.path.join(ROOT, "scripts", "watch.py")
RED = PALETTE_RGB[0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """Run directories of one-update training runs on CuedBerry-v1 (30-step episodes), per preset."""
    out = {}
    for preset in ("feedforward", "full"):
        run_dir = str(tmp_path_factory.mktemp("runs") / preset)
        train(Config(agent=preset, env="CuedBerry-v1", num_envs=4, num_steps=8, total_steps=32, max_episode_steps=30,
                     run_dir=run_dir, progress=False, video_interval=0, image_interval=0, device="cpu"))
        out[preset] = run_dir
    return out


def subprocess_env() -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    env["SDL_VIDEODRIVER"] = "dummy"
    return env


def render(session, **kwargs) -> tuple[np.ndarray, FrameRenderer]:
    renderer, frame = FrameRenderer(session), new_frame()
    renderer.draw(frame, **kwargs)
    return surface_to_array(frame), renderer


def key(text: str, code: int | None = None, mod: int = 0) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=code if code is not None else ord(text.lower()), unicode=text, mod=mod)


def test_demo_checkpoint_is_small_and_watch_py_runs_30_frames():
    assert os.path.getsize(DEMO_CHECKPOINT) < 3_000_000  # it ships in the repository
    result = subprocess.run([sys.executable, WATCH_SCRIPT, "--frames", "30"], env=subprocess_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_record_writes_a_gif_whose_frames_differ(tmp_path):
    out = tmp_path / "watch.gif"
    assert main(["--record", str(out), "--frames", "6", "--scale", "0.5"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 6 and gif.size == (FRAME_SIZE[0] // 2, FRAME_SIZE[1] // 2)
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    for before, after in zip(frames, frames[1:]):
        assert (before != after).any()  # the step counter alone changes every frame
    assert sorted(os.listdir(tmp_path)) == ["watch.gif"]  # no temporary file left behind


def test_recording_without_limits_stops_after_one_episode(tmp_path, checkpoints):
    out = tmp_path / "episode.gif"
    assert main(["--checkpoint", checkpoints["full"], "--record", str(out), "--scale", "0.2"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 31  # the first observation, then the 30 steps of the episode


def test_a_recording_is_drawn_at_its_size_with_legible_text_and_no_live_hints():
    session = load_session(None, seed=0)  # the demo: every panel, the gain legend and the channel letters
    for _ in range(3):
        session.step()
    recorder, frame = FrameRenderer(session, 0.6, hints=False), new_frame(0.6)
    assert frame.get_size() == (600, 348)

    def drawn(renderer, surface, **live) -> np.ndarray:
        renderer.draw(surface, **live)
        return surface_to_array(surface)

    plain = drawn(recorder, frame)
    for live in ({"speed": 120.0}, {"paused": True}, {"show_help": True}):  # the live controls change nothing
        assert (drawn(recorder, frame, **live) == plain).all(), live
    assert min(recorder.text_heights) >= MIN_TEXT_PX and len(recorder.text_heights) >= 1
    window = FrameRenderer(session, 0.6)  # the window's renderer at the same size does show them
    with_hints = drawn(window, new_frame(0.6))
    assert (drawn(window, new_frame(0.6), speed=120.0) != with_hints).any()
    hud = recorder.rects["hud"]
    corner = (slice(hud.top, hud.bottom), slice(hud.right - 80, hud.right))  # where "H: help" is drawn
    assert (with_hints[corner] != BACKGROUND).any() and (plain[corner] == BACKGROUND).all()
    # every panel fits in the frame
    assert all(frame.get_rect().contains(rect) for rect in recorder.rects.values())


def test_fonts_scale_with_the_output_and_never_go_below_the_minimum():
    pygame.font.init()
    for size in (14, 18, 22):
        heights = [font_for(size, scale).get_height() for scale in (0.2, 0.6, 1.0, 2.0, 4.0)]
        assert min(heights) >= MIN_TEXT_PX and heights == sorted(heights)
        assert heights[-1] >= 3 * heights[2] - 2  # 4x the frame: about 4x the text
    assert font_for(22, 2.0).get_height() > font_for(22, 1.0).get_height()


def test_the_readme_recipe_records_legible_text_without_hints(tmp_path):
    out = tmp_path / "demo.gif"
    assert main(["--record", str(out), "--frames", "2", "--cue-switch", "50", "--scale", "0.6"]) == 0
    with Image.open(out) as gif:
        assert gif.size == (600, 348)
        pixels = np.asarray(gif.convert("RGB"))
    session = load_session(None, seed=0)
    hud = FrameRenderer(session, 0.6).rects["hud"]
    corner = pixels[hud.top:hud.bottom, hud.right - 80:hud.right]  # no "H: help", no speed: the panel colour only
    assert (np.abs(corner.astype(int) - np.array(BACKGROUND)).max(-1) <= 8).all()


def test_mp4_is_piped_to_ffmpeg_and_needs_it_on_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # without the [mp4] extra: ffmpeg from PATH
    fake = tmp_path / "bin" / "ffmpeg"  # stands in for ffmpeg: copies the raw frames to the output file
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nfor last; do :; done\n{shutil.which("cat")} > "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    out = tmp_path / "watch.mp4"
    assert main(["--record", str(out), "--frames", "3", "--scale", "0.2"]) == 0
    assert out.stat().st_size == 3 * 200 * 116 * 3  # three raw rgb24 frames of 200 x 116
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--record", str(out), "--frames", "3"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e .[mp4]" in err and err.count("\n") == 1


@pytest.mark.skipif(ffmpeg_binary() is None, reason="no ffmpeg: pip install -e .[mp4]")
def test_a_real_mp4_is_written(tmp_path):
    out = tmp_path / "watch.mp4"
    assert main(["--record", str(out), "--frames", "4", "--scale", "0.2"]) == 0
    assert out.read_bytes()[4:8] == b"ftyp"  # an MP4 container


def test_tensorboard_and_the_viewer_share_one_gif_encoder(tmp_path):
    frames = [np.full((8, 10, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    gif = Image.open(io.BytesIO(encode_gif(frames, fps=10)))
    assert gif.n_frames == 3 and gif.size == (10, 8) and gif.info["duration"] == 100


def test_frame_draws_a_red_berry_where_the_state_puts_it():
    session = load_session(None, "RedBerry-v1", seed=3)
    state, config = session.env.state, session.config
    state.berry_timer[0, 1:] = 5  # only berry 0 is present
    state.berry_colour[0, 0] = 0
    state.pose[0] = torch.tensor([config.arena_size - 1.0, config.arena_size - 1.0, 0.0])
    arena = FrameRenderer(session).rects["arena"]
    scale = arena.width / (config.arena_size + 2 * WALL_WIDTH)

    def pixel(frame, x, y):
        column = int(round(arena.left + (x + WALL_WIDTH) * scale))
        row = int(round(arena.top + (config.arena_size + WALL_WIDTH - y) * scale))
        return tuple(frame[row, column])

    state.berry_pos[0, 0] = torch.tensor([2.0, 2.0])
    frame, _ = render(session)
    assert pixel(frame, 2.0, 2.0) == RED
    assert pixel(frame, 5.0, 2.0) == FLOOR_RGB
    assert tuple(frame[arena.top + 2, arena.left + 2]) == WALL_RGB
    state.berry_pos[0, 0] = torch.tensor([5.0, 2.0])
    frame, _ = render(session)
    assert pixel(frame, 5.0, 2.0) == RED and pixel(frame, 2.0, 2.0) == FLOOR_RGB
    state.berry_timer[0, 0] = 3  # eaten: not drawn
    frame, _ = render(session)
    assert pixel(frame, 5.0, 2.0) == FLOOR_RGB


def palette_pixels(region: np.ndarray) -> int:
    return sum(int((region == np.array(rgb, np.uint8)).all(-1).sum()) for rgb in PALETTE_RGB)


def test_panels_follow_the_agents_mechanisms(checkpoints):
    ff = load_session(checkpoints["feedforward"], seed=1)
    full = load_session(checkpoints["full"], seed=1)
    for _ in range(20):
        full.step()
    ff_frame, ff_renderer = render(ff)
    full_frame, full_renderer = render(full)
    assert set(ff_renderer.rects) == {"hud", "arena", "retina", "policy", "plot"}
    assert set(full_renderer.rects) == {"hud", "arena", "retina", "policy", "plot", "gates", "channel_gain"}

    def crop(frame, rect):
        return frame[rect.top:rect.bottom, rect.left:rect.right]

    # Without spatial gain the retina is the agent's view, enlarged and untouched.
    retina, view = ff_renderer.rects["retina"], ff.obs["image"][0].numpy()
    zoom = (retina.width - 16) // view.shape[1]
    shown = ff_frame[retina.top + 28:retina.top + 28 + view.shape[0] * zoom, retina.left + 8:retina.left + 8 + view.shape[1] * zoom]
    assert (shown == view.repeat(zoom, 0).repeat(zoom, 1)).all()
    # The feedforward agent's plot moves up where the gain panel would be; nothing there is a gain bar.
    assert ff_renderer.rects["plot"].top == ff_renderer.rects["retina"].bottom + 8
    right_column = ff_frame[:, ff_renderer.rects["plot"].left:]
    below_retina = right_column[ff_renderer.rects["retina"].bottom:]
    assert palette_pixels(below_retina) == 0
    assert (ff_frame == np.array(DOPAMINE, np.uint8)).all(-1).sum() == 0
    # The full agent has bars in its preferred colours, and a dopamine trace.
    assert palette_pixels(crop(full_frame, full_renderer.rects["channel_gain"])) > 50
    assert (crop(full_frame, full_renderer.rects["plot"]) == np.array(DOPAMINE, np.uint8)).all(-1).sum() > 20
    # The gate bars are as long as the gates are open.
    lit = []
    for gates in ([0.0, 0.0], [1.0, 1.0]):
        full.internals["gates"] = np.array(gates, np.float32)
        frame, _ = render(full)
        lit.append(int((crop(frame, full_renderer.rects["gates"]) == np.array(TEXT, np.uint8)).all(-1).sum()))
    assert lit[1] - lit[0] > 2000


def test_channel_gain_bars_follow_the_gains():
    session = load_session(None, seed=0)
    renderer, frame = FrameRenderer(session), new_frame()
    rect = renderer.rects["channel_gain"]

    def drawn(gain: float) -> tuple[int, np.ndarray]:
        for key_ in session.internals:
            if key_.startswith("channel_gain/"):
                session.internals[key_][:] = gain
        renderer.draw(frame)
        pixels = surface_to_array(frame)
        panel = pixels[rect.top:rect.bottom, rect.left:rect.right]
        return int((panel != panel[2, 2]).any(-1).sum()), pixels

    low, low_frame = drawn(0.1)
    high, high_frame = drawn(renderer.gain_max)
    assert high > low + 1000  # taller bars
    arena = renderer.rects["arena"]
    same = (low_frame[arena.top:arena.bottom, arena.left:arena.right] == high_frame[arena.top:arena.bottom, arena.left:arena.right])
    assert same.all()


def test_goal_key_changes_the_goal_the_agent_receives_and_what_pays():
    pygame.display.init()
    try:
        session = load_session(None, "CuedBerry-v1", seed=5)
        controls = Controls(session, 15)
        goals = []
        session.agent.register_forward_pre_hook(lambda module, args: goals.append(args[0]["goal"][0].clone()))
        colour = (session.target_colour + 2) % 6
        pygame.event.post(key(str(colour + 1)))  # digits 1-6 name the palette in order
        for event in pygame.event.get():
            controls.handle(event)
        expected = torch.nn.functional.one_hot(torch.tensor(colour), 6).float()
        assert torch.equal(goals[-1], expected)
        assert session.target_colour == colour
        # The world pays for the new colour: a berry of it under the forager is a +1.
        state = session.env.state
        state.berry_timer[0, 1:] = 5
        state.berry_colour[0, 0] = colour
        state.berry_pos[0, 0] = state.pose[0, :2]
        session.step()
        assert session.history[-1][0] == session.config.target_reward
        assert torch.equal(goals[-1], expected)  # the next observation carries it too
        controls.handle(key("c"))  # letters: r o y c b m
        assert session.target_colour == 3 and int(goals[-1].argmax()) == 3
    finally:
        pygame.display.quit()


def test_window_loop_reads_keys_and_quits_on_q():
    session = load_session(None, "CuedBerry-v1", seed=0)
    pygame.display.init()
    for event in (key("3"), key(" ", pygame.K_SPACE), key("q")):
        pygame.event.post(event)
    frames = watch(session, WatchArgs())  # no frame limit: only Q ends it
    assert frames == 1 and session.target_colour == 2
    assert not pygame.display.get_init()  # the window is closed


def test_goal_keys_leave_fixed_goals_alone_and_shift_r_resets():
    session = load_session(None, "RedBerry-v1", seed=0)
    controls = Controls(session, 15)
    for _ in range(3):
        session.step()
    controls.handle(key("b"))
    assert session.target_colour == 0 and session.goal.argmax() == 0 and "fixed" in controls.message
    controls.handle(key("r"))  # red, not reset
    assert session.episode == 1 and session.episode_stats()["step"] == 3
    controls.handle(key("R", pygame.K_r, pygame.KMOD_SHIFT))
    assert session.episode == 2 and session.episode_stats()["step"] == 0


def test_l_toggles_the_feedback_lesion_and_the_gains_show_it(checkpoints):
    session = load_session(checkpoints["full"], seed=0)
    controls = Controls(session, 15)
    assert not np.allclose(session.internals["channel_gain/conv1"], 1.0)
    controls.handle(key("l"))
    assert session.agent.lesion == "feedback"
    assert np.array_equal(session.internals["channel_gain/conv1"], np.ones(16, np.float32))
    controls.handle(key("L"))
    assert session.agent.lesion is None
    ff = load_session(checkpoints["feedforward"], seed=0)
    Controls(ff, 15).handle(key("l"))
    assert ff.agent.lesion is None


def test_pause_step_speed_help_and_quit_keys():
    session = load_session(None, seed=0)
    controls = Controls(session, 15)
    steps, owed = controls.steps_due(0.3, 0.0)
    assert steps == 4 and abs(owed - 0.5) < 1e-9  # 15 steps/s for 0.3 s: 4 now, half a step owed
    controls.handle(key(" ", pygame.K_SPACE))
    assert controls.paused and controls.steps_due(1.0, 0.0)[0] == 0
    controls.handle(key("", pygame.K_RIGHT))
    assert controls.steps_due(1.0, 0.0)[0] == 1
    controls.handle(key("+", pygame.K_PLUS))
    assert controls.speed == 30
    controls.handle(key("-", pygame.K_MINUS))
    controls.handle(key("-", pygame.K_MINUS))
    assert controls.speed == 8
    controls.handle(key("h"))
    assert controls.show_help
    assert command_for(key("", pygame.K_ESCAPE)) == ("quit",) and command_for(key("q")) == ("quit",)
    controls.handle(key("Q"))
    assert not controls.running


def test_cue_switch_cues_a_colour_in_the_field_and_the_recording_shows_it(tmp_path):
    session = load_session(seed=4)
    for _ in range(3):
        old = session.target_colour
        new = session.switch_cue()
        present = session.env.state.berry_colour[0][session.env.state.berry_timer[0] == 0]
        assert new != old and new == session.target_colour and (present == new).any()
        assert int(session.goal.argmax()) == new and session.goal.sum() == 1  # the agent is told
    out = tmp_path / "switch.gif"
    assert main(["--record", str(out), "--frames", "7", "--cue-switch", "3", "--scale", "0.3"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 7


def test_gain_overlay_keeps_the_berry_colours_visible():
    view = np.full((8, 8, 3), FLOOR_RGB, np.uint8)
    view[2:6, 2:6] = RED  # a berry in the middle
    flat = gain_overlay(view, np.ones((4, 4), np.float32), 4)
    assert np.array_equal(flat, view.repeat(4, 0).repeat(4, 1))  # gain 1 (the mean): the view as it is
    gain = np.full((4, 4), 0.8, np.float32)
    gain[1:3, 1:3] = 1.6  # attention on the berry
    lit = gain_overlay(view, gain, 4)
    centre = lit[12:20, 12:20].reshape(-1, 3)
    assert (centre == RED).all()  # inside the contour the berry keeps its colour, untinted
    lines = {tuple(c) for _, c, _ in GAIN_CONTOURS}
    assert lines <= {tuple(p) for p in lit.reshape(-1, 3)}  # each contour level is drawn
    corner = lit[0, 0].astype(float)  # the floor at gain 0.8: darker, same hue
    assert (corner < np.array(FLOOR_RGB)).all()
    assert np.allclose(corner / corner.sum(), np.array(FLOOR_RGB) / sum(FLOOR_RGB), atol=0.01)


def mismatched_checkpoint(path: str) -> None:
    """The demo's weights under another architecture's agent config."""
    payload = torch.load(DEMO_CHECKPOINT, weights_only=True)
    payload["agent_config"] = json.dumps(dataclasses.asdict(agents.PRESETS["whatwhere"]))
    save_checkpoint(path, {k: v for k, v in payload.items() if k not in ("format", "format_version")})


@pytest.mark.parametrize("case, argv, words", [
    ("missing", ["--checkpoint", "{tmp}/nowhere.pt"], "does not exist"),
    ("empty run dir", ["--checkpoint", "{tmp}"], "holds no checkpoint.pt"),
    ("population dir", ["--checkpoint", "{tmp}/pop"], "holds a population, whose runs are seed1, seed2; "
                                                       "allowed: one of its runs, such as"),
    ("corrupt", ["--checkpoint", "{tmp}/corrupt.pt"], "corrupt"),
    ("mismatched", ["--checkpoint", "{tmp}/mismatched.pt"], "does not match"),
    ("unknown env", ["--env", "Pong-v5"], "--env: got 'Pong-v5'"),
    ("bad record", ["--record", "{tmp}/out.avi"], ".gif or .mp4"),
    ("bad frames", ["--frames", "0"], "--frames: got 0"),
    ("cue switch, no record", ["--cue-switch", "5"], "--cue-switch: got 5 without --record"),
    ("cue switch, fixed goal", ["--env", "RedBerry-v1", "--record", "{tmp}/x.gif", "--cue-switch", "5"],
     "does not let the cue change"),
    ("forager out of range", ["--env", "MultiBerry-v1", "--forager", "4", "--frames", "1"],
     "--forager: got 4; allowed: 0 to 3"),
    ("negative forager", ["--forager", "-1", "--frames", "1"], "--forager: got -1"),
])
def test_bad_input_is_one_line_and_exit_code_2_before_any_window(tmp_path, capsys, monkeypatch, case, argv, words):
    windows = []
    monkeypatch.setattr(pygame.display, "set_mode", lambda *a, **k: windows.append(a))
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    if case == "mismatched":
        mismatched_checkpoint(str(tmp_path / "mismatched.pt"))
    for seed in ("seed1", "seed2"):  # a population's directory: its runs inside, no checkpoint of its own
        (tmp_path / "pop" / seed).mkdir(parents=True)
        shutil.copy(DEMO_CHECKPOINT, tmp_path / "pop" / seed / "checkpoint.pt")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("watch.py: error: ") and err.count("\n") == 1 and words in err, err
    assert "Traceback" not in err
    assert windows == []  # no window was opened


def test_missing_demo_checkpoint_says_how_to_make_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("viewer.session.DEMO_CHECKPOINT", str(tmp_path / "demo.pt"))
    assert main(["--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert "python scripts/train.py" in err and err.count("\n") == 1


def test_run_directory_is_accepted(tmp_path):
    shutil.copy(DEMO_CHECKPOINT, tmp_path / "checkpoint.pt")
    assert main(["--checkpoint", str(tmp_path), "--record", str(tmp_path / "out.gif"), "--frames", "2", "--scale", "0.2"]) == 0


def test_no_display_and_no_limit_says_how_to_run_headless():
    """Under SDL's dummy (or offscreen) driver a window nobody sees would run forever: refuse it in one line,
    and run headless when --frames gives a limit."""
    env = dict(subprocess_env(), SDL_VIDEODRIVER="dummy")
    result = subprocess.run([sys.executable, WATCH_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--record out.gif" in result.stderr
    result = subprocess.run([sys.executable, WATCH_SCRIPT, "--frames", "3"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_cli_bad_checkpoint_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    result = subprocess.run([sys.executable, WATCH_SCRIPT, "--checkpoint", str(bad)], env=subprocess_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "corrupt" in result.stderr and "Traceback" not in result.stderr


# --- MultiBerry: every forager drawn, distinct; the watched one's view and internals -------------


def arena_pixel(session, renderer, frame, x, y):
    arena, config = renderer.rects["arena"], session.config
    scale = arena.width / (config.arena_size + 2 * WALL_WIDTH)
    column = int(round(arena.left + (x + WALL_WIDTH) * scale))
    row = int(round(arena.top + (config.arena_size + WALL_WIDTH - y) * scale))
    return frame[row - 3:row + 4, column - 3:column + 4].reshape(-1, 3)  # the disc's middle, around its number


def test_multiberry_draws_every_living_forager_in_its_own_colour_and_the_watched_ones_view():
    session = load_session(None, "MultiBerry-v1", seed=2, forager=2)
    state, config = session.env.state, session.config
    assert session.num_slots == 4 and session.watched == 2
    corners = torch.tensor([[1.5, 1.5], [1.5, 8.0], [8.0, 1.5], [8.0, 8.0]]) * config.arena_size / 10
    state.pose[0, :, :2] = corners
    state.berry_timer[0] = 5  # no berries, so only foragers colour the floor
    state.foliage_pos[0] = -10.0  # foliage out of the way
    frame, renderer = render(session)
    for k, (x, y) in enumerate(corners.tolist()):
        shades = {tuple(p) for p in arena_pixel(session, renderer, frame, x, y)}
        assert forager_colour(k) in shades, (k, shades)  # its body, around its number
        assert not shades & {forager_colour(j) for j in range(4) if j != k}  # not another forager's
    assert len({forager_colour(k) for k in range(4)}) == 4
    field = np.all(frame == np.array(FIELD_OF_VIEW_RGB, np.uint8), axis=-1)
    assert field.sum() > 50  # the watched forager's ring and field of view
    state.alive[0, 1] = False  # forager 1 starved: not drawn
    frame, renderer = render(session)
    shades = {tuple(p) for p in arena_pixel(session, renderer, frame, *corners[1].tolist())}
    assert shades == {FLOOR_RGB}


def test_multiberry_session_shows_the_watched_foragers_view_goal_and_reward():
    session = load_session(None, "MultiBerry-v1", seed=5)
    images = session.obs["image"]
    assert not torch.equal(images[0], images[1])  # every forager sees its own view
    for k in range(session.num_slots):
        assert session.next_forager() == (k + 1) % session.num_slots
        assert np.array_equal(session.view, session.obs["image"][session.watched].numpy())
        with torch.no_grad():  # the internals shown are the watched forager's own
            gains = session.out.internals["spatial_gain"][session.watched].numpy()
        assert np.array_equal(session.internals["spatial_gain"], gains)
    rewards = []
    original = session.env.step

    def step(action):
        out = original(action)
        rewards.append(out[1].clone())
        return out

    session.env.step = step
    session.watched = 3
    for _ in range(60):
        session.step()
    watched = [float(r[3]) for r in rewards]
    assert [h[0] for h in session.history] == watched[-len(session.history):]
    assert session.episode_stats()["return"] == pytest.approx(sum(watched))
    assert session.episode_stats(0)["return"] == pytest.approx(sum(float(r[0]) for r in rewards))
    assert not session.goal_settable  # each forager's goal is its own


def test_tab_cycles_the_watched_forager_and_single_worlds_say_there_is_one():
    multi = load_session(None, "MultiBerry-v1", seed=1)
    controls = Controls(multi, 15.0)
    controls.handle(key("\t", pygame.K_TAB))
    assert multi.watched == 1 and "forager 1" in controls.message
    single = load_session(None, "RedBerry-v1", seed=1)
    controls = Controls(single, 15.0)
    controls.handle(key("\t", pygame.K_TAB))
    assert single.watched == 0 and "one forager" in controls.message


def test_a_multiberry_trained_run_is_watched_on_its_own_arena(tmp_path):
    run_dir = str(tmp_path / "multi")
    train(Config(agent="feedforward", env="MultiBerry-v1", num_envs=2, num_steps=8, total_steps=64,
                 env_kwargs={"num_agents": 3, "starvation_steps": 20}, run_dir=run_dir, progress=False,
                 video_interval=0, image_interval=0, device="cpu"))
    session = load_session(run_dir, seed=0, forager=1)
    assert session.env_id == "MultiBerry-v1" and session.num_slots == 3  # its num_agents, one arena
    alone = load_session(run_dir, "RedBerry-v1", seed=0)  # the multi-forager knobs are dropped
    assert alone.num_slots == 1
    out = tmp_path / "multi.gif"
    assert main(["--checkpoint", run_dir, "--record", str(out), "--frames", "50", "--scale", "0.3"]) == 0
    assert Image.open(out).n_frames == 50
