"""Careless and hostile input to the trainer, the export tool, the bench and the worlds: a one-line
error naming what was wrong, exit status 2, and nothing destroyed or written first."""

from __future__ import annotations

import dataclasses
import re
import json
import os
import resource
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import gymnasium as gym
import numpy as np
import pytest

import envs
from training import Config, ConfigError, load_checkpoint, train
from training.checkpoint import CHECKPOINT_FILE, CheckpointError, export_checkpoint
from training.config import from_dict, parse_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = Config(num_envs=4, num_steps=8, total_steps=64, max_episode_steps=20, video_interval=0, image_interval=0,
              progress=False, device="cpu", num_minibatches=2)


def _run(script: str, *args: str, cwd: str | None = None, preexec_fn=None) -> subprocess.CompletedProcess:
    """scripts/<script> (or ``-m training.export``) with ``args``, from ``cwd``."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy")
    command = ["-m", "training.export"] if script == "export" else [os.path.join(ROOT, "scripts", script)]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, env=env, timeout=120,
                          cwd=cwd, preexec_fn=preexec_fn)


@pytest.mark.parametrize("values, name", [
    ({"anneal_lr": "false"}, "anneal_lr"),  # a string is not a bool: "false" used to anneal
    ({"env_kwargs": "noise 0.1"}, "env_kwargs"),
    ({"agent_overrides": 3}, "agent_overrides"),
    ({"seed": 1.5}, "seed"),
    ({"num_envs": True}, "num_envs"),
    ({"device": "tpu"}, "device"),
    ({"env_kwargs": {"reversal_colours": [0, 1]}}, "env_kwargs"),
])
def test_config_files_are_typed_like_the_flags(values, name):
    with pytest.raises(ConfigError, match=f"c.json: {name} is"):
        from_dict(values, "--config c.json")


def test_typed_config_accepts_what_the_flags_accept():
    config = from_dict({"anneal_lr": False, "learning_rate": 1, "difficulty": None, "target_kl": 0.02,
                        "env_kwargs": {"noise": 0.1, "num_foliage": 3}}, "c.json")
    assert config.anneal_lr is False and config.learning_rate == 1 and config.env_kwargs["num_foliage"] == 3


def test_bad_paths_fail_before_anything_is_written(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for run_dir, problem in ((a_file, "is a file"), (a_file / "below", "is a file")):
        with pytest.raises(ConfigError, match=f"--run-dir: .*{problem}"):
            train(dataclasses.replace(TINY, run_dir=str(run_dir)))
    with pytest.raises(ConfigError, match="--config: .* cannot be read"):
        parse_config(["--config", str(tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_a_run_dir_that_died_before_its_first_checkpoint_is_not_logged_into_twice(tmp_path):
    run_dir = tmp_path / "died"
    run_dir.mkdir()
    (run_dir / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    with pytest.raises(ConfigError, match="before its first checkpoint"):
        train(dataclasses.replace(TINY, run_dir=str(run_dir)))


def test_stale_temporaries_of_a_killed_run_are_swept_on_resume(tmp_path):
    result = train(dataclasses.replace(TINY, run_dir=str(tmp_path / "run"), total_steps=32))
    stale = os.path.join(result.run_dir, f".{CHECKPOINT_FILE}.tmp-999999999.pt")  # no such process
    open(stale, "wb").write(b"half a checkpoint")
    train(dataclasses.replace(TINY, run_dir=result.run_dir, resume=result.run_dir, total_steps=64))
    assert not os.path.exists(stale)


def test_export_refuses_to_overwrite_its_own_input(tmp_path):
    result = train(dataclasses.replace(TINY, run_dir=str(tmp_path / "run"), total_steps=32))
    checkpoint = os.path.join(result.run_dir, CHECKPOINT_FILE)
    before = open(checkpoint, "rb").read()
    for destination in (checkpoint, result.run_dir):
        with pytest.raises(CheckpointError, match="destination"):
            export_checkpoint(result.run_dir, destination)
    assert open(checkpoint, "rb").read() == before
    assert load_checkpoint(checkpoint)["ranks"]  # the resume state is still there
    out = subprocess.run([sys.executable, "-m", "training.export", checkpoint, checkpoint], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "would destroy" in out.stderr and len(out.stderr.strip().splitlines()) == 1


BAD_INPUT = [  # (script, args, what the one line must name)
    ("train.py", ["--run-dir", "/dev/null/run"], "--run-dir"),
    ("train.py", ["--config", "/"], "--config"),
    ("train.py", ["--env", "CartPole-v1"], "--env"),
    ("train.py", ["--population", "1000"], "--population"),  # refused before 1000 configs are trained
    ("compare.py", ["--out", "/dev/null"], "--out"),
    ("bench.py", ["env", "--seconds", "inf"], "--seconds"),
    ("bench.py", ["env", "--seconds", "nan"], "--seconds"),
    ("bench.py", ["env", "--env", "Foo-v0"], "--env"),
    ("bench.py", ["population", "--seeds", "0"], "--seeds"),
    # a bad flag after good output flags: the outputs named must not appear
    ("train.py", ["--run-dir", "out/run", "--num-envs", "0"], "--num-envs"),
    ("train.py", ["--run-dir", "out/run", "--learning-rate", "nan"], "--learning-rate"),
    ("train.py", ["--run-dir", "out/run", "--env-kwargs", "view_size", "4096"], "view_size"),
    ("train.py", ["--run-dir", "out/run", "--env-kwargs", '{"view_size": 4096}'], "--env-kwargs"),  # tyro's box
    ("train.py", ["--run-dir", "out/run", "--num-envs", "many"], "--num-envs: got 'many'"),
    ("train.py", ["--num-envs", "3", "--num-minibatches", "2"], "--num-minibatches"),  # found once the agent is built
    ("compare.py", ["--out", "out/cmp", "--seeds", "0"], "--seeds"),
    ("compare.py", ["--out", "out/cmp", "--agents", "nonsense"], "--agents"),
    ("watch.py", ["--record", "out/x.gif", "--frames", "0"], "--frames"),
    ("watch.py", ["--record", "x.gif", "--env", "Pong-v5"], "--env"),
    ("watch.py", ["--record", "x.gif", "--fps", "fast"], "--fps"),  # tyro's box
    ("bench.py", ["train", "--steps", "-5"], "--steps"),
    ("export", ["nowhere/checkpoint.pt", "out/slim.pt"], "nowhere"),
    # integers too large for any world, seed or width: bounded, not an overflow deep in numpy or torch
    ("train.py", ["--num-envs", "100000000000000000000"], "--num-envs: got 100000000000000000000; allowed: an integer from 1"),
    ("train.py", ["--seed", "100000000000000000000"], "--seed"),
    ("train.py", ["--agent-overrides", "hidden", "100000000000000000000"], "hidden must be an int from 1 to 4096"),
    ("watch.py", ["--record", "x.gif", "--seed", "100000000000000000000"], "--seed"),
    ("bench.py", ["env", "--sizes", "100000000000000000000"], "--sizes"),
    ("bench.py", ["multi", "--num-agents", "2", "--slots", "100000000000000000000"], "--slots"),
    # a switch given a value; a field name in place of the flag; a task that would mislabel the run
    ("train.py", ["--anneal-lr=yes"], "--anneal-lr: got 'yes'; allowed: --anneal-lr or --no-anneal-lr"),
    ("watch.py", ["--record", "x.gif", "--cue-switch", "0"], "--cue-switch: got 0"),
    ("train.py", ["--env-kwargs", "task", "cued"], "--env-kwargs: task='cued' with --env RedBerry-v1"),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict:
    """Every BAD_INPUT line run once, each from its own empty directory, two processes at a time (each
    is mostly torch's import): {index: (the finished process, its directory)}."""
    def launch(index: int):
        cwd = tmp_path_factory.mktemp(f"bad{index}")
        script, args, _ = BAD_INPUT[index]
        return index, (_run(script, *args, cwd=str(cwd)), cwd)
    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(launch, range(len(BAD_INPUT))))


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=[f"{s}-{f}" for s, _, f in BAD_INPUT])
def test_every_cli_ends_bad_input_with_one_line_and_status_2_and_writes_nothing_first(refused, index):
    """Nothing is written before the refusal: not runs/ or compare_out/, nor the outputs named by good
    flags before the bad one."""
    out, cwd = refused[index]
    flag = BAD_INPUT[index][2]
    assert out.returncode == 2, out.stderr[-1000:]
    assert len(out.stderr.strip().splitlines()) == 1 and flag in out.stderr, out.stderr
    assert os.listdir(cwd) == [], os.listdir(cwd)


def _file_size_limit(limit: int):
    """For a child process: files it writes cannot grow past ``limit`` bytes, so a write fails with EFBIG
    ("File too large") as it would with ENOSPC on a full disk (SIGXFSZ ignored, so the write returns)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_failed_checkpoint_write_is_one_line_and_the_last_checkpoint_resumes(tmp_path):
    flags = ["--num-envs", "4", "--num-steps", "8", "--max-episode-steps", "20", "--no-progress",
             "--video-interval", "0", "--image-interval", "0"]
    first = _run("train.py", "--run-dir", "run", "--total-steps", "64", *flags, cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr[-1000:]
    checkpoint = tmp_path / "run" / CHECKPOINT_FILE
    before = checkpoint.read_bytes()
    full = _run("train.py", "--resume", "run", "--total-steps", "128", "--no-progress", cwd=str(tmp_path),
                preexec_fn=_file_size_limit(len(before) // 2))  # the disk "fills up" mid-checkpoint
    assert full.returncode == 2, full.stderr[-2000:]
    assert full.stderr.strip().splitlines() == [
        f"train.py: error: run/{CHECKPOINT_FILE}: File too large (any checkpoint written before is intact)"]
    assert checkpoint.read_bytes() == before  # the old checkpoint is whole
    assert not [f for f in os.listdir(checkpoint.parent) if ".tmp-" in f]  # no half-written temporary
    again = _run("train.py", "--resume", "run", "--total-steps", "128", "--no-progress", cwd=str(tmp_path))
    assert again.returncode == 0, again.stderr[-1000:]
    assert load_checkpoint(str(checkpoint))["global_step"] == 128


def test_worlds_take_the_same_seeds_single_and_vector():
    single, vector = gym.make("RedBerry-v1"), gym.make_vec("RedBerry-v1", num_envs=2)
    for bad in (1.5, -1, "3", True):
        with pytest.raises(TypeError, match="seed"):
            single.reset(seed=bad)
        with pytest.raises(TypeError, match="seed"):
            vector.reset(seed=bad)
    with pytest.raises(TypeError, match="seed list holds 2.5"):
        vector.reset(seed=[1, 2.5])  # was silently truncated to 2
    with pytest.raises(TypeError, match="seed lists are for the vector env"):
        single.reset(seed=[1])
    single.reset(seed=np.int64(3))
    vector.reset(seed=[np.uint32(3), 4])


def test_view_size_has_an_upper_bound_with_a_message():
    with pytest.raises(ValueError, match=r"view_size.*\[8, 256\]"):
        gym.make_vec("RedBerry-v1", num_envs=1, view_size=4096)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16])
def test_any_integer_dtype_is_a_discrete_action(dtype):
    env = envs.make_numpy_vec("RedBerry-v1", num_envs=2)
    env.reset(seed=0)
    env.step(np.array([2, 4], dtype=dtype))
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([2, 9], dtype=dtype))


def test_a_config_nested_past_the_recursion_limit_is_one_line(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="--config: .*deep.json' is not valid JSON"):
        parse_config(["--config", str(tmp_path / "deep.json")])


@pytest.mark.parametrize("setup, words", [
    ("a directory", "a file name (this is a directory)"),
    ("unwritable", "--record '/proc/redberry-x.gif'"),  # a write that fails at the end: /proc, even as root
])
def test_watch_refuses_a_recording_it_cannot_write_before_drawing(tmp_path, setup, words):
    if setup == "a directory":
        (tmp_path / "out.gif").mkdir()
        record = "out.gif"
    else:
        record = "/proc/redberry-x.gif"
    out = _run("watch.py", "--record", record, "--frames", "2", "--scale", "0.2", cwd=str(tmp_path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and words in out.stderr, out.stderr
    assert os.listdir(tmp_path) == (["out.gif"] if setup == "a directory" else [])


@pytest.mark.parametrize("plan, words", [("[]", "a JSON list, not an object"), ('{"agents": 5}', "not a whole compare plan")])
def test_merge_names_a_plan_json_that_is_not_a_plan(tmp_path, plan, words):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "plan.json").write_text(plan)
    out = _run("compare.py", "--merge", "m", "--out", "merged", "--no-progress", cwd=str(tmp_path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "plan.json" in out.stderr and words in out.stderr


def _damage(payload: dict, part: str) -> None:
    if part == "config":
        payload["config"] = "{not json"
    elif part == "config type":
        payload["config"] = 5
    elif part == "agent config":
        payload["agent_config"] = json.dumps({**json.loads(payload["agent_config"]), "hidden": -3})
    elif part == "weights":
        payload["model"] = {k: v[..., :1] if v.dim() else v for k, v in payload["model"].items()}
    elif part == "counter":
        payload["update"] = "many"
    elif part == "ranks":
        payload["ranks"] = [{"nothing": 1}]


@pytest.mark.parametrize("part", ["config", "config type", "agent config", "weights", "counter", "ranks"])
def test_a_resume_names_a_damaged_part_of_a_checkpoint_and_writes_nothing(tmp_path, part):
    from training.checkpoint import save_checkpoint

    result = train(dataclasses.replace(TINY, run_dir=str(tmp_path / "run"), total_steps=32))
    path = os.path.join(result.run_dir, CHECKPOINT_FILE)
    payload = load_checkpoint(path)
    _damage(payload, part)
    save_checkpoint(path, {k: v for k, v in payload.items() if k not in ("format", "format_version")})
    def written():  # every file but the run's lock, which only names the process that last opened the run
        return {f: os.path.getmtime(os.path.join(result.run_dir, f)) for f in os.listdir(result.run_dir) if f != ".lock"}

    before = written()
    expected = (f"checkpoint '{path}' holds a config this version cannot read \\(hidden must be .*retrain it"
                if part == "agent config" else f"checkpoint '{path}' is damaged: .*start a new run")
    with pytest.raises(CheckpointError, match=expected) as error:
        train(dataclasses.replace(TINY, run_dir=result.run_dir, resume=result.run_dir, total_steps=64))
    assert "\n" not in str(error.value)
    assert written() == before  # nothing written: no config, no events, and the damaged checkpoint left for the user


@pytest.mark.parametrize("env_id, make", [("RedBerry-v1", {"num_envs": 2}), ("MultiBerry-v1", {"num_envs": 2, "num_agents": 2})])
def test_drawing_and_reset_options_name_what_they_allow(env_id, make):

    env = gym.make_vec(env_id, device="cpu", **make)
    env.reset(seed=0)
    assert env.render_arena(1, size=32).shape == (32, 32, 3)
    for index, size, words in ((2, 64, "index=2; allowed: an int from 0 to 1"), (0, 0, "size=0; allowed"),
                               (0, -5, "size=-5"), (-1, 64, "index=-1"), (0, 2.5, "size=2.5")):
        with pytest.raises(ValueError, match=re.escape(words)):
            env.render_arena(index, size=size)
    for options in ("reset_mask", 5, ["reset_mask"]):
        with pytest.raises(TypeError, match="allowed: None or a dict"):
            env.reset(options=options)
    env.reset(options={})  # an empty dict is a plain reset
    env.close()


def test_the_pettingzoo_env_refuses_seeds_it_would_truncate_or_wrap():
    from envs import multiberry_pettingzoo

    env = multiberry_pettingzoo.parallel_env(num_agents=2)
    for seed in (-1, 2.5, "3", True):
        with pytest.raises(TypeError, match=re.escape(f"seed={seed!r}; allowed: an integer >= 0")):
            env.reset(seed=seed)
    first, _ = env.reset(seed=4)
    again, _ = env.reset(seed=4)
    assert all(np.array_equal(first[a]["image"], again[a]["image"]) for a in first)
    env.close()


def test_reversalberry_needs_a_berry_of_each_colour():
    with pytest.raises(ValueError, match="num_berries=1 is not allowed; num_berries must be 2 or more on ReversalBerry"):
        gym.make_vec("ReversalBerry-v1", num_envs=2, num_berries=1)
    env = gym.make_vec("ReversalBerry-v1", num_envs=4, num_berries=2)
    env.reset(seed=0)
    pair = set(env.unwrapped.config.reversal_colours)
    assert all(set(row) == pair for row in env.unwrapped.state.berry_colour.tolist())  # one of each
    env.close()
