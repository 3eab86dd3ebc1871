"""A population (K seeds one after another in one process) equals K separate runs, resumes as they do,
and a stop request ends it after the run in progress."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training import Config, ConfigError, load_checkpoint, train, train_population
from training.checkpoint import CHECKPOINT_FILE
from training.population import population_configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(ROOT, "scripts", "train.py")

BASE = Config(num_envs=8, num_steps=16, total_steps=3 * 8 * 16, max_episode_steps=20, update_epochs=2,
              num_minibatches=2, image_interval=1, video_interval=0, checkpoint_interval=1, progress=False,
              device="cpu")


def _same_checkpoints(a: dict, b: dict) -> None:
    assert a["global_step"] == b["global_step"] and a["update"] == b["update"]
    for name, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][name], rtol=1e-6, atol=1e-7, msg=name)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        torch.testing.assert_close(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=1e-5, atol=1e-10)
    ra, rb = a["ranks"][0], b["ranks"][0]
    assert torch.equal(ra["rng_actions"], rb["rng_actions"])  # the same actions and minibatches were drawn
    for key, value in ra["env_state"].items():  # the same worlds, step for step
        assert torch.equal(value, rb["env_state"][key]), key
    assert torch.equal(ra["carry"]["obs"]["image"], rb["carry"]["obs"]["image"])


@pytest.mark.parametrize("env_id, agent", [("CuedBerry-v1", "full"), ("MultiBerry-v1", "feedforward")])
def test_a_population_of_two_equals_two_separate_runs(tmp_path, env_id, agent):
    base = dataclasses.replace(BASE, env=env_id, agent=agent,
                               num_envs=2 if env_id == "MultiBerry-v1" else BASE.num_envs)
    alone = [train(dataclasses.replace(base, seed=s, run_dir=str(tmp_path / f"alone{s}"))) for s in (3, 4)]
    together = train_population([dataclasses.replace(base, seed=s, run_dir=str(tmp_path / f"pop{s}")) for s in (3, 4)])
    assert [r.updates for r in together] == [r.updates for r in alone] == [3, 3]
    for s, a, b in zip((3, 4), alone, together):
        _same_checkpoints(load_checkpoint(os.path.join(a.run_dir, CHECKPOINT_FILE)),
                          load_checkpoint(os.path.join(b.run_dir, CHECKPOINT_FILE)))
        assert b.episodic_return == pytest.approx(a.episodic_return)
        assert b.reference == a.reference  # each seed's own reference returns
        saved = json.load(open(os.path.join(b.run_dir, "config.json")))
        assert saved["seed"] == s and saved["population"] == 1  # an ordinary run directory
    # The two seeds really are different runs, not one run twice.
    first, second = (load_checkpoint(os.path.join(r.run_dir, CHECKPOINT_FILE)) for r in together)
    name = next(iter(first["model"]))
    assert not torch.equal(first["model"][name], second["model"][name])
    assert not torch.equal(first["ranks"][0]["carry"]["obs"]["image"], second["ranks"][0]["carry"]["obs"]["image"])


def test_an_interrupted_population_resumes_to_the_separate_runs_result(tmp_path):
    config = dataclasses.replace(BASE, agent="dopamine", env="CuedBerry-v1", population=2, seed=5,
                                 run_dir=str(tmp_path / "pop"))
    alone = [train(dataclasses.replace(config, population=1, seed=s, run_dir=str(tmp_path / f"alone{s}")))
             for s in (5, 6)]
    first = train_population(population_configs(config), max_updates=1, population=config)
    assert all(r.interrupted and r.updates == 1 for r in first)
    assert json.load(open(tmp_path / "pop" / "config.json"))["population"] == 2
    resumed = dataclasses.replace(config, resume=str(tmp_path / "pop"))
    second = train_population(population_configs(resumed))
    assert [r.run_dir for r in second] == [str(tmp_path / "pop" / "seed5"), str(tmp_path / "pop" / "seed6")]
    for a, b in zip(alone, second):
        _same_checkpoints(load_checkpoint(os.path.join(a.run_dir, CHECKPOINT_FILE)),
                          load_checkpoint(os.path.join(b.run_dir, CHECKPOINT_FILE)))
        steps = [e.step for e in EventAccumulator(b.run_dir).Reload().Scalars("losses/value_loss")]
        assert steps == [128, 256, 384]  # each seed's TensorBoard run goes on where it stopped


def test_population_member_resumes_alone(tmp_path):
    """A member's directory is an ordinary run: it resumes on its own, to the same result."""
    config = dataclasses.replace(BASE, agent="recurrent", population=2, run_dir=str(tmp_path / "pop"))
    train_population(population_configs(config), max_updates=2, population=config)
    member = str(tmp_path / "pop" / "seed2")
    resumed = train(dataclasses.replace(BASE, agent="recurrent", seed=2, run_dir=member, resume=member))
    alone = train(dataclasses.replace(BASE, agent="recurrent", seed=2, run_dir=str(tmp_path / "alone")))
    assert resumed.global_step == alone.global_step
    _same_checkpoints(load_checkpoint(os.path.join(alone.run_dir, CHECKPOINT_FILE)),
                      load_checkpoint(os.path.join(member, CHECKPOINT_FILE)))


def test_train_script_population_flag_and_resume(tmp_path):
    run_dir = tmp_path / "pop"
    common = [sys.executable, TRAIN_SCRIPT, "--agent", "feedforward", "--num-envs", "4", "--num-steps", "8",
              "--max-episode-steps", "20", "--video-interval", "0", "--no-progress", "--device", "cpu"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    out = subprocess.run(common + ["--population", "3", "--seed", "7", "--total-steps", "64", "--run-dir", str(run_dir)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(os.listdir(run_dir)) == ["config.json", "seed7", "seed8", "seed9"]
    assert out.stdout.count("Finished 2 updates") == 3
    again = subprocess.run([sys.executable, TRAIN_SCRIPT, "--resume", str(run_dir), "--total-steps", "96",
                            "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    for seed in (7, 8, 9):
        assert load_checkpoint(str(run_dir / f"seed{seed}" / CHECKPOINT_FILE))["global_step"] == 96


def test_population_settings_are_checked_before_training(tmp_path):
    one = dataclasses.replace(BASE, run_dir=str(tmp_path / "a"))
    with pytest.raises(ConfigError, match="--num-envs"):
        train_population([one, dataclasses.replace(one, seed=2, num_envs=4, run_dir=str(tmp_path / "b"))])
    with pytest.raises(ConfigError, match="--seed"):
        train_population([one, dataclasses.replace(one, run_dir=str(tmp_path / "b"))])
    with pytest.raises(ConfigError, match="--run-dir"):
        train_population([one, dataclasses.replace(one, seed=2)])
    with pytest.raises(ConfigError, match="--population"):
        train(dataclasses.replace(one, population=2))
    with pytest.raises(ConfigError, match="--population"):
        train_population([dataclasses.replace(one, population=0)])
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_a_stop_request_ends_the_population_after_the_run_in_progress_and_resume_finishes_it(tmp_path,
                                                                                          monkeypatch):
    """Ctrl-C in the first run: it saves, the later runs do not start; --resume finishes all, each equal to
    its separate run (a member that never started starts in its own directory)."""
    import training.loop

    config = dataclasses.replace(BASE, agent="feedforward", population=2, seed=3, run_dir=str(tmp_path / "pop"))
    real = training.loop.ppo_update

    def interrupting(*args, **kwargs):  # Ctrl-C arrives during the first update of the first run
        stats = real(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        return stats

    monkeypatch.setattr(training.loop, "ppo_update", interrupting)
    first = train_population(population_configs(config), population=config)
    monkeypatch.setattr(training.loop, "ppo_update", real)
    assert len(first) == 1 and first[0].interrupted and first[0].updates == 1
    assert sorted(os.listdir(tmp_path / "pop")) == ["config.json", "seed3"]
    resumed = dataclasses.replace(config, resume=str(tmp_path / "pop"))
    members = population_configs(resumed)
    assert [m.resume for m in members] == [str(tmp_path / "pop" / "seed3"), None]
    second = train_population(members)
    assert [r.updates for r in second] == [3, 3] and not any(r.interrupted for r in second)
    for seed, result in zip((3, 4), second):
        alone = train(dataclasses.replace(config, population=1, seed=seed, run_dir=str(tmp_path / f"alone{seed}")))
        _same_checkpoints(load_checkpoint(os.path.join(alone.run_dir, CHECKPOINT_FILE)),
                          load_checkpoint(os.path.join(result.run_dir, CHECKPOINT_FILE)))
