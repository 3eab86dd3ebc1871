"""Every command and snippet in README.md runs as written, at small sizes.

Each ``python scripts/...`` line of a bash block runs this checkout's script in a scratch directory
(runs/ and outputs land there), with size flags appended (the last value of a flag wins), so the line itself is tested as the
reader types it. The Python snippets run with their sizes shrunk. The compare lines train and evaluate
whole grids, so they are in a slow test.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()

TRAIN_SMALL = ["--total-steps", "128", "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "2",
               "--video-interval", "0", "--image-interval", "0", "--no-progress", "--device", "cpu"]
RUN_NUMBERS = count()
SMALL = {  # (script, first argument or None) -> flags appended
    ("train.py", None): TRAIN_SMALL,
    ("watch.py", None): ["--frames", "2", "--scale", "0.2"],
    ("bench.py", "env"): ["--sizes", "4", "--sync-sizes", "1", "--seconds", "0.05", "--device", "cpu"],
    ("bench.py", "multi"): ["--slots", "16", "--seconds", "0.05", "--device", "cpu"],
    ("bench.py", "train"): ["--presets", "feedforward", "--num-envs", "8", "--num-steps", "8", "--num-minibatches",
                            "2", "--updates", "1", "--device", "cpu"],
    ("bench_sb3.py", None): ["--num-envs", "2", "--n-steps", "16", "--rollouts", "1", "--repeats", "1"],
    ("compare.py", None): ["--steps", "256", "--seeds", "1", "--num-envs", "8", "--num-steps", "8", "--eval-worlds",
                           "4", "--episode-steps", "16", "--conditions", "easy", "--lesion-conditions", "easy",
                           "--passes", "1", "--passes-conditions", "easy", "--no-progress", "--device", "cpu"],
}


def readme_commands(script_filter) -> list[str]:
    """The `python scripts/...` and `python -m training...` commands of the README's bash blocks."""
    return [command for block in readme_blocks(script_filter) for command in block]


def readme_blocks(script_filter) -> list[list[str]]:
    """`readme_commands`, block by block (a block's lines may need the ones before them); no empty block."""
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        commands = []
        blocks.append(commands)
        for line in block.splitlines():
            line = re.split(r"\s{2,}#", line)[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                scheduler_template = "$" in part or part.endswith("\\")  # the SLURM example's job lines
                if part.startswith(("python scripts/", "python -m training")) and not scheduler_template \
                        and script_filter(part):
                    commands.append(part)
    return [block for block in blocks if block]


def _training_flag(flags: list[str], i: int) -> bool:
    training = ("--steps", "--seeds", "--num-envs", "--num-steps")
    return flags[i] in training or (i > 0 and flags[i - 1] in training)


def run(command: str, cwd: str) -> subprocess.CompletedProcess:
    argv = shlex.split(command.replace("runs/<run>", "runs/first"))
    script = os.path.basename(argv[1]) if argv[1] != "-m" else None
    subcommand = argv[2] if script == "bench.py" else None
    extra = [] if "--help" in argv else SMALL.get((script, subcommand), [])
    if script == "compare.py" and "--from" in argv:  # trained runs decide the training flags
        extra = [f for i, f in enumerate(extra) if not _training_flag(extra, i)]
    if script == "train.py" and "--resume" in argv:
        extra = ["--total-steps", "256", "--no-progress"]
    elif script == "train.py" and "--run-dir" not in argv and "--help" not in argv:
        extra = extra + ["--run-dir", f"runs/line{next(RUN_NUMBERS)}"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    if script is not None:  # the scripts of this checkout, run from the scratch directory
        argv[1] = os.path.join(ROOT, argv[1])
    return subprocess.run([sys.executable, *argv[1:], *extra], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def scratch(tmp_path):
    """A scratch working directory holding one finished run, runs/first (the README's runs/<run>)."""
    first = run("python scripts/train.py --run-dir runs/first", str(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    return str(tmp_path)


def _needs(command: str) -> bool:
    return "bench_sb3" not in command or importlib.util.find_spec("stable_baselines3") is not None


def _first_failure(commands: list[str], cwd: str) -> str | None:
    for command in commands:
        result = run(command, cwd)
        if result.returncode != 0:
            return f"{command}\n{result.stderr[-2000:]}"
    return None


def test_the_readmes_commands_run_as_written(scratch):
    """Block by block, in order within a block; two blocks at once (each command on one thread), so
    the two cores share the ~25 process start-ups."""
    blocks = readme_blocks(lambda c: "compare.py" not in c and _needs(c))
    assert sum(map(len, blocks)) >= 20, blocks  # the train, watch, bench and export lines
    with ThreadPoolExecutor(2) as pool:
        failures = [f for f in pool.map(lambda block: _first_failure(block, scratch), blocks) if f]
    assert not failures, "\n\n".join(failures)
    assert os.path.isfile(os.path.join(scratch, "assets", "demo.pt"))  # the demo recipe wrote into the scratch dir
    assert os.path.isfile(os.path.join(scratch, "assets", "demo.gif"))


SNIPPET_SIZES = {"num_envs=4096": "num_envs=8", 'device="cuda"': 'device="cpu"', "total_timesteps=10_000":
                 "total_timesteps=64", "total_timesteps=4_096": "total_timesteps=64", "n_steps=128": "n_steps=16"}


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", README))))
def test_the_readmes_python_snippets_run(index, tmp_path):
    code = re.findall(r"```python\n(.*?)```", README, re.S)[index]
    if "stable_baselines3" in code:
        pytest.importorskip("stable_baselines3")
    if "supersuit" in code:
        pytest.importorskip("supersuit")
    for big, small in SNIPPET_SIZES.items():
        code = code.replace(big, small)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{code}\n{result.stderr[-2000:]}"


@pytest.mark.slow
def test_the_readmes_compare_commands_run_as_written(scratch):
    commands = readme_commands(lambda c: "compare.py" in c)
    assert len(commands) >= 5, commands
    for command in commands:
        if "--merge" in command:  # the README's other shard, first
            shard = next(c for c in commands if "--shard 0/2" in c)
            other = run(shard.replace("0/2", "1/2").replace("card-0", "card-1"), scratch)
            assert other.returncode == 0, other.stderr[-2000:]
        result = run(command, scratch)
        assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"


# A run-time figure: a number of seconds, minutes or hours (steps/s and the like are speeds, measured by the
# benchmarks beside their commands). Durations differ between machines and load; the trainer's bar and
# compare's calibration measure them on the machine at hand, so the README and --help state none by hand.
DURATION = re.compile(r"\d[\d,.]*\s*(?:-|to|–)?\s*[\d,.]*\s*(?:s|sec|secs|seconds?|min|mins|minutes?|h|hrs?|hours?|"
                      r"CPU-hours?|GPU-hours?)\b(?!/)", re.IGNORECASE)


def durations(text: str) -> list[str]:
    return [m.group(0) for m in DURATION.finditer(text)]


def test_the_pattern_finds_run_time_figures_and_not_speeds():
    assert durations("took 14.9 min; ~40 min; 22 CPU-hours; about 2 minutes; 3-5 h; 90 s") == [
        "14.9 min", "40 min", "22 CPU-hours", "2 minutes", "3-5 h", "90 s"]
    assert durations("1,347 steps/s, 256 worlds x 16 steps, 0.4-0.5x, 1M steps, 24x24, T = 3") == []


@pytest.mark.parametrize("script", ["train.py", "compare.py", "watch.py", "bench.py"])
def test_no_run_time_figure_is_written_by_hand_in_the_readme_or_help(script):
    help_text = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), "--help"], capture_output=True,
                               text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120).stdout
    assert "usage" in help_text.lower()
    assert durations(help_text) == [], f"{script} --help"
    if script == "train.py":  # once
        assert durations(README) == [], "README.md"
