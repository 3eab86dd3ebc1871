"""The trainer: tiny runs per preset, TensorBoard contents, checkpoints, resume, errors, torchrun."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import agents
from agents.ppo import Rollout, compute_gae
from training import (CheckpointError, Config, ConfigError, NonFiniteError, load_checkpoint, parse_config,
                      save_checkpoint, train)
from training.checkpoint import CHECKPOINT_FILE
from training.interrupt import stop_requests
from conftest import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(ROOT, "scripts", "train.py")

# A few hundred steps per update, episodes short enough to end inside every run.
TINY = Config(num_envs=8, num_steps=32, total_steps=1024, max_episode_steps=40, update_epochs=1,
              num_minibatches=2, image_interval=2, video_interval=3, checkpoint_interval=2, progress=False,
              device="cpu")

CLEANRL_TAGS = ["charts/episodic_return", "charts/SPS", "charts/learning_rate",
                "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/approx_kl",
                "losses/clipfrac", "losses/explained_variance"]
FORAGE_TAGS = ["forage/target_eaten", "forage/distractor_eaten", "forage/precision", "forage/normalized_score"]
MECHANISM_TAGS = {
    "feedforward": [],
    "recurrent": [],
    "early": [],
    "feedback": ["attention/channel_gain/conv1", "attention/spatial_gain_std"],
    "whatwhere": ["gating/what", "gating/where"],
    "dopamine": ["dopamine/delta", "dopamine/trace_norm"],
    "full": ["attention/channel_gain/conv1", "attention/spatial_gain_std", "gating/what", "gating/where",
             "dopamine/delta", "dopamine/trace_norm"],
}


pytestmark = pytest.mark.usefixtures("one_thread_everywhere")  # tiny runs: spare threads only contend


def events(run_dir: str) -> EventAccumulator:
    acc = EventAccumulator(run_dir, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def run_tiny(tmp_path, name="run", max_updates=None, **changes):
    config = dataclasses.replace(TINY, run_dir=str(tmp_path / name), **changes)
    return config, train(config, max_updates=max_updates)


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.parametrize("preset", list(agents.PRESETS))
def test_tiny_run_writes_scalars_image_video_hparams(tmp_path, preset):
    config, result = run_tiny(tmp_path, agent=preset)
    assert result.global_step == 1024 and result.updates == 4 and not result.interrupted
    acc = events(result.run_dir)
    scalars = set(acc.Tags()["scalars"])
    missing = [t for t in CLEANRL_TAGS + FORAGE_TAGS + MECHANISM_TAGS[preset] if t not in scalars]
    assert not missing, f"missing scalar tags {missing}; have {sorted(scalars)}"
    images = acc.Tags()["images"]
    view = acc.Images("views/agent_view_spatial_gain")[-1]
    assert view.encoded_image_string.startswith(b"\x89PNG")
    video = acc.Images("eval/video")[-1]
    assert video.encoded_image_string.startswith(b"GIF8"), images
    gif = Image.open(io.BytesIO(video.encoded_image_string))
    assert gif.n_frames >= 10
    hparams = acc.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["agent"].string_value == preset
    experiment = HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert "final/normalized_score" in [m.name.tag for m in experiment.metric_infos]
    assert "final/normalized_score" in scalars
    assert "config/text_summary" in acc.Tags()["tensors"]
    saved = json.load(open(os.path.join(result.run_dir, "config.json")))
    assert saved["agent"] == preset and saved["run_dir"] == result.run_dir
    checkpoint = torch.load(os.path.join(result.run_dir, CHECKPOINT_FILE), weights_only=True)
    assert checkpoint["format"] == "redberry.train" and checkpoint["update"] == 4


def test_a_run_shorter_than_an_episode_still_shows_learning(tmp_path, capsys):
    """No episode ends in 2 updates of 40-step episodes x 16 steps (unstaggered), yet TensorBoard gets per-step rates,
    the view image at update 1 and a real hparams metric, and the closing note says why there is no return."""
    _, result = run_tiny(tmp_path, total_steps=2 * 8 * 16, num_steps=16, image_interval=25, video_interval=0,
                         stagger_start=False)  # every world's first episode ends together, after the run
    assert result.episodic_return is None
    acc = events(result.run_dir)
    rates = acc.Scalars("charts/reward_per_100_steps")
    assert [e.step for e in rates] == [128, 256]
    targets = [e.value for e in acc.Scalars("forage/targets_per_100_steps")]
    distractors = [e.value for e in acc.Scalars("forage/distractors_per_100_steps")]
    for rate, t, d in zip(rates, targets, distractors):
        assert rate.value == pytest.approx(t - d, abs=1e-4)  # +1 per target, -1 per distractor
    assert "charts/episodic_return" not in acc.Tags()["scalars"]
    assert [e.step for e in acc.Images("views/agent_view_spatial_gain")] == [128]  # update 1, not 25
    out = capsys.readouterr().out
    assert "No full episode ended" in out and "40 steps" in out and "320 steps" in out


def test_continuous_actions_train_on_cued_berries(tmp_path):
    _, result = run_tiny(tmp_path, agent="feedback", env="CuedBerry-v1", action_type="continuous",
                         total_steps=512, video_interval=0)
    assert result.global_step == 512 and result.normalized_score is not None
    assert "losses/approx_kl" in events(result.run_dir).Tags()["scalars"]


def test_update_reruns_the_rollout_exactly(tmp_path):
    # One epoch, one minibatch: the update re-runs the stored sequences from the stored initial
    # state with the parameters that collected them, so the ratio is exactly 1 everywhere, even
    # though episodes end (and worlds reset) inside the rollouts.
    _, result = run_tiny(tmp_path, agent="full", num_minibatches=1, max_episode_steps=12, total_steps=768,
                         video_interval=0, image_interval=0)
    acc = events(result.run_dir)
    for event in acc.Scalars("losses/approx_kl") + acc.Scalars("losses/old_approx_kl"):
        assert abs(event.value) < 1e-6
    assert all(e.value == 0.0 for e in acc.Scalars("losses/clipfrac"))


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    changes = dict(agent="full", total_steps=4 * 256, video_interval=0, checkpoint_interval=1)
    _, straight = run_tiny(tmp_path, "straight", **changes)
    _, first = run_tiny(tmp_path, "resumed", max_updates=2, **changes)
    assert first.interrupted and first.global_step == 512
    config = dataclasses.replace(TINY, run_dir=str(tmp_path / "resumed"), resume=str(tmp_path / "resumed"), **changes)
    second = train(config)
    assert second.global_step == straight.global_step == 1024
    a = load_checkpoint(os.path.join(straight.run_dir, CHECKPOINT_FILE))
    b = load_checkpoint(os.path.join(second.run_dir, CHECKPOINT_FILE))
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    assert torch.equal(a["ranks"][0]["rng_actions"], b["ranks"][0]["rng_actions"])
    # The carry's entry keeps its format, so checkpoints written before agents.runner.Carry resume.
    assert list(a["ranks"][0]["carry"]) == ["obs", "state", "episode_start", "valid", "prev_reward", "prev_action"]
    # The logs go on in the same run directory.
    steps = [e.step for e in events(second.run_dir).Scalars("losses/value_loss")]
    assert steps == [256, 512, 768, 1024]


def test_parse_resume_keeps_saved_config_and_takes_new_total(tmp_path):
    _, result = run_tiny(tmp_path, total_steps=256, video_interval=0)
    config = parse_config(["--resume", result.run_dir, "--total-steps", "512"])
    assert config.resume == result.run_dir and config.total_steps == 512
    assert config.num_envs == TINY.num_envs and config.max_episode_steps == TINY.max_episode_steps
    assert train(config).global_step == 512
    before = open(os.path.join(result.run_dir, "config.json")).read()
    with pytest.raises(ConfigError, match=r"--total-steps: got 256, but the run in .* has trained 512 steps; allowed: 512"):
        train(parse_config(["--resume", result.run_dir, "--total-steps", "256"]))
    assert open(os.path.join(result.run_dir, "config.json")).read() == before  # its budget is not rewritten


def test_a_runs_saved_config_starts_a_new_run_with_another_seed(tmp_path):
    """The README's `train.py --config runs/<run>/config.json --seed 2`: the saved run_dir is not reused."""
    _, first = run_tiny(tmp_path, "first", total_steps=256, video_interval=0)
    config = parse_config(["--config", os.path.join(first.run_dir, "config.json"), "--seed", "2",
                           "--run-dir", str(tmp_path / "second")])
    assert config.seed == 2 and config.num_envs == TINY.num_envs and config.resume is None
    assert train(config).run_dir == str(tmp_path / "second")
    assert parse_config(["--config", os.path.join(first.run_dir, "config.json")]).run_dir is None


def test_config_file_loads_and_flags_override_it(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"agent": "recurrent", "num_envs": 12, "env_kwargs": {"num_berries": 5}}))
    config = parse_config(["--config", str(path), "--num-envs", "16"])
    assert config.agent == "recurrent" and config.num_envs == 16 and config.env_kwargs == {"num_berries": 5}
    path.write_text(json.dumps({"agnet": "recurrent"}))
    with pytest.raises(ConfigError, match="agnet"):
        parse_config(["--config", str(path)])


@pytest.mark.parametrize("argv, flag", [
    (["--agent", "telepathy"], "--agent"),
    (["--env", "BlueBerry-v9"], "--env"),
    (["--env", "CartPole-v1"], "--env"),
    (["--num-envs", "0"], "--num-envs"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--num-minibatches", "9"], "--num-minibatches"),
    (["--total-steps", "10"], "--total-steps"),
    (["--env-kwargs", "num_berries", "0"], "--env-kwargs"),
    (["--env-kwargs", "wind", "3"], "--env-kwargs"),
    (["--agent-overrides", "wings", "2"], "--agent-overrides"),
    (["--difficulty", "easy", "--env-kwargs", "difficulty", "hard"], "--env-kwargs"),
])
def test_bad_flags_fail_before_training_naming_the_flag(tmp_path, argv, flag):
    run_dir = tmp_path / "never"
    # argv comes last, so its flags override these (the last value of a flag wins).
    config = parse_config(["--num-envs", "8", "--run-dir", str(run_dir), "--no-progress", "--device", "cpu"] + argv)
    with pytest.raises(ConfigError, match=flag):
        train(config)
    assert not run_dir.exists()


def test_cli_reports_bad_flags_and_exits_2(tmp_path):
    run_dir = tmp_path / "never"
    bad_preset = subprocess.run([sys.executable, TRAIN_SCRIPT, "--agent", "telepathy", "--run-dir", str(run_dir)],
                                capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert bad_preset.returncode == 2 and "--agent" in bad_preset.stderr and "feedforward" in bad_preset.stderr
    unknown = subprocess.run([sys.executable, TRAIN_SCRIPT, "--num-envz", "8"],
                             capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert unknown.returncode == 2 and "--num-envz" in unknown.stderr
    assert not run_dir.exists()


def test_existing_run_dir_is_not_overwritten(tmp_path):
    _, result = run_tiny(tmp_path, total_steps=256, video_interval=0)
    before = open(os.path.join(result.run_dir, CHECKPOINT_FILE), "rb").read()
    with pytest.raises(ConfigError, match="--run-dir"):
        run_tiny(tmp_path, total_steps=256, video_interval=0)
    assert open(os.path.join(result.run_dir, CHECKPOINT_FILE), "rb").read() == before


def test_corrupt_or_foreign_checkpoint_is_a_clear_error_and_the_good_one_is_untouched(tmp_path):
    _, result = run_tiny(tmp_path, total_steps=256, video_interval=0)
    good = os.path.join(result.run_dir, CHECKPOINT_FILE)
    before = open(good, "rb").read()
    assert torch.load(good, weights_only=True)["format"] == "redberry.train"

    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / "config.json").write_text(open(os.path.join(result.run_dir, "config.json")).read())
    (bad_dir / CHECKPOINT_FILE).write_bytes(before[: len(before) // 2])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        train(parse_config(["--resume", str(bad_dir)]))
    torch.save({"state_dict": {"w": torch.zeros(2)}}, bad_dir / CHECKPOINT_FILE)  # someone else's
    with pytest.raises(CheckpointError, match="foreign"):
        load_checkpoint(str(bad_dir / CHECKPOINT_FILE))

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "redberry.train", "x": Evil()}, bad_dir / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(str(bad_dir / CHECKPOINT_FILE))
    assert open(good, "rb").read() == before


def test_interrupted_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / CHECKPOINT_FILE)
    save_checkpoint(path, {"update": 1})
    before = open(path, "rb").read()

    def failing_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"update": 2})
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == [CHECKPOINT_FILE]


def test_non_finite_parameters_stop_training_naming_the_update(tmp_path, monkeypatch):
    import training.loop

    real_update = training.loop.ppo_update
    calls = []

    def poisoned_update(agent, *args, **kwargs):
        stats = real_update(agent, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                next(agent.parameters()).fill_(float("nan"))
        return stats

    monkeypatch.setattr(training.loop, "ppo_update", poisoned_update)
    with pytest.raises(NonFiniteError, match="update 3"):
        run_tiny(tmp_path, agent="recurrent", total_steps=5 * 256, checkpoint_interval=2, video_interval=0)
    checkpoint = load_checkpoint(str(tmp_path / "run" / CHECKPOINT_FILE))
    assert checkpoint["update"] == 2
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, TRAIN_SCRIPT, "--agent", "feedforward", "--num-envs", "4", "--num-steps", "16",
         "--total-steps", "10000000", "--checkpoint-interval", "1", "--video-interval", "0", "--no-progress",
         "--device", "cpu", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    deadline = time.time() + 120
    while not (run_dir / CHECKPOINT_FILE).exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Stopped at update" in out and "--resume" in out
    assert load_checkpoint(str(run_dir / CHECKPOINT_FILE))["update"] >= 1


def test_first_ctrl_c_asks_to_stop_and_a_second_quits():
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever ran before
    try:
        with stop_requests(announce=False) as request:
            assert not request.requested
            os.kill(os.getpid(), signal.SIGINT)
            # a stop request: the update goes on; the trainer saves and stops after it
            wait_for(lambda: request.requested, "the first SIGINT's handler", timeout=5.0)
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                wait_for(lambda: False, "the second SIGINT to quit", timeout=5.0)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)


def test_torchrun_two_processes_train_data_parallel(tmp_path):
    run_dir = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", TRAIN_SCRIPT,
         "--agent", "recurrent", "--num-envs", "4", "--num-steps", "16", "--total-steps", "256",
         "--num-minibatches", "2", "--max-episode-steps", "20", "--video-interval", "0", "--no-progress",
         "--device", "cpu", "--run-dir", str(run_dir)],
        capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert result.returncode == 0, (result.stdout[-1500:], result.stderr[:1500], result.stderr[-1500:])
    checkpoint = load_checkpoint(str(run_dir / CHECKPOINT_FILE))
    assert checkpoint["global_step"] == 256 and checkpoint["update"] == 2  # 2 x 4 x 16 per update
    ranks = checkpoint["ranks"]
    assert len(ranks) == 2  # each process's own worlds, with their own seeds
    assert not torch.equal(ranks[0]["carry"]["obs"]["image"], ranks[1]["carry"]["obs"]["image"])
    assert len([f for f in os.listdir(run_dir) if f.startswith("events.out")]) == 1  # rank 0 logs


def _rollout(rewards, values, terminated, truncated, valid):
    T, N = len(rewards), 1
    r = Rollout.allocate(T, {"goal": torch.zeros(N, 2)}, torch.zeros(N, dtype=torch.long))
    r.rewards[:, 0] = torch.tensor(rewards)
    r.values[:, 0] = torch.tensor(values)
    r.terminated[:, 0] = torch.tensor(terminated)
    r.truncated[:, 0] = torch.tensor(truncated)
    r.valid[:, 0] = torch.tensor(valid)
    return r


def test_gae_bootstraps_truncation_from_the_final_observation_and_masks_it():
    # Step 1 truncates: o_2 is the final observation (its action did nothing, valid=False) and
    # V(o_2) = 5 bootstraps step 1. Step 3 starts a new episode; the chain does not cross.
    rollout = _rollout(rewards=[1.0, 2.0, 0.0, 1.0], values=[0.5, 1.0, 5.0, 2.0],
                       terminated=[False] * 4, truncated=[False, True, False, False],
                       valid=[True, True, False, True])
    gamma, lam = 0.9, 0.8
    adv, ret = compute_gae(rollout, torch.tensor([3.0]), gamma, lam)
    a1 = 2.0 + gamma * 5.0 - 1.0
    a0 = (1.0 + gamma * 1.0 - 0.5) + gamma * lam * a1
    a3 = 1.0 + gamma * 3.0 - 2.0
    assert torch.allclose(adv[:, 0], torch.tensor([a0, a1, 0.0, a3]))
    # The value targets are the lambda-returns G_t = r_t + gamma ((1 - lam) V_{t+1} + lam G_{t+1}),
    # cut where the episode ends: the truncated step bootstraps V(o_2) alone, and the masked step's
    # target is its own value, so it adds no value loss.
    g1 = 2.0 + gamma * 5.0
    g0 = 1.0 + gamma * ((1 - lam) * 1.0 + lam * g1)
    assert torch.allclose(ret[:, 0], torch.tensor([g0, g1, 5.0, 1.0 + gamma * 3.0]))
    # With lam = 1 the target is the discounted return to the truncation, plus gamma^k V(final obs).
    _, monte_carlo = compute_gae(rollout, torch.tensor([3.0]), gamma, 1.0)
    assert monte_carlo[0, 0].item() == pytest.approx(1.0 + gamma * 2.0 + gamma ** 2 * 5.0)


def test_gae_does_not_bootstrap_termination():
    rollout = _rollout(rewards=[1.0, 1.0], values=[0.0, 0.0], terminated=[True, False], truncated=[False, False],
                       valid=[True, False])
    adv, _ = compute_gae(rollout, torch.tensor([9.0]), 0.99, 0.95)
    assert torch.allclose(adv[:, 0], torch.tensor([1.0, 0.0]))


@pytest.mark.slow
def test_default_feedback_agent_learns_easy_red_berries_well_above_random(tmp_path):
    # The default settings, shortened to 0.4M steps: about 2 minutes on a 2-core CPU. One seed
    # with the default 4x4 PPO scored 0.54 at 0.13M steps and 1.26 at 0.26M.
    config = Config(total_steps=400_000, progress=False, video_interval=0, device="cpu",
                    run_dir=str(tmp_path / "learn"))
    result = train(config)
    assert result.normalized_score is not None and result.normalized_score >= 0.8, result


@pytest.mark.slow
def test_default_feedback_agent_follows_the_cue_on_cued_berries(tmp_path):
    # `python scripts/train.py --env CuedBerry-v1` as it is: about 5 minutes on a 2-core CPU (4.6 min measured).
    # One seed reached a normalised score of 1.2 and precision 0.79 by 0.4M steps, 1.8 and 0.87 at 1M.
    config = Config(env="CuedBerry-v1", progress=False, video_interval=0, device="cpu",
                    run_dir=str(tmp_path / "cued"))
    result = train(config)
    precision = events(result.run_dir).Scalars("final/precision")[-1].value
    assert result.normalized_score >= 0.8 and precision >= 0.75, (result, precision)


@pytest.mark.slow
def test_the_control_learns_reversal_berrys_defaults(tmp_path):
    # `python scripts/train.py --env ReversalBerry-v1 --total-steps 2000000`: the feedback agent (the
    # plasticity comparison's control) on the task's defaults, then compare's evaluation on 128 fresh
    # worlds of full episodes. About 20 minutes on a 2-core CPU. It must infer the hidden colour from its
    # rewards: precision >= 0.75, and it stays with a colour that paid more often than with one that cost.
    from compare.cli import CompareArgs
    from compare.run import run_compare
    from compare.rows import read_csv

    config = Config(env="ReversalBerry-v1", total_steps=2_000_000, progress=False, video_interval=0,
                    image_interval=0, device="cpu", run_dir=str(tmp_path / "reversal"))
    train(config)
    out = tmp_path / "eval"
    run_compare(CompareArgs(out=str(out), from_runs=(config.run_dir,), conditions=("easy",), lesion_conditions=(),
                            passes=(1,), passes_conditions=(), episode_steps=500, eval_worlds=128, device="cpu",
                            progress=False))
    (row,) = [r for r in read_csv(str(out / "results.csv")) if r["lesion"] == "none"]
    assert row["agent"] == "feedback"  # the task's defaults: no settings in its name
    precision, win, loss = (float(row[k]) for k in ("precision", "stay_after_win", "stay_after_loss"))
    assert precision >= 0.75 and win - loss >= 0.2, (precision, win, loss)
