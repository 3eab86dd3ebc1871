"""--distractor-ramp: the schedule, and that logs show the task's true reward while the agent learns
from the ramped one."""

import dataclasses

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training import Config, ConfigError, train
from training.config import validate
from training.loop import distractor_ramp


def test_ramp_schedule_is_linear_then_full():
    ramp = Config(distractor_ramp=0.5)
    assert [distractor_ramp(ramp, u, 10) for u in (1, 2, 3, 6, 7, 10)] == [0.0, 0.2, 0.4, 1.0, 1.0, 1.0]
    assert all(distractor_ramp(Config(), u, 10) == 1.0 for u in (1, 5, 10))
    with pytest.raises(ConfigError, match="--distractor-ramp: got 1.5; allowed: a number in"):
        validate(Config(distractor_ramp=1.5))


def first_update_scalars(run_dir: str) -> dict[str, float]:
    acc = EventAccumulator(run_dir)
    acc.Reload()
    return {tag: acc.Scalars(tag)[0].value for tag in acc.Tags()["scalars"]}


def test_logged_returns_are_true_while_the_agent_learns_the_ramped_reward(tmp_path):
    # Episodes of 20 steps in a crowded field end inside the first 32-step rollout, whose actions
    # are the same in both runs (same seed, same initial parameters): the logged returns must be
    # equal, the losses must not (the agent saw other rewards).
    base = Config(env="CuedBerry-v0", agent="feedforward", num_envs=8, num_steps=32, total_steps=512,
                  max_episode_steps=20, env_kwargs={"num_berries": 40}, update_epochs=1, num_minibatches=2,
                  image_interval=0, video_interval=0, checkpoint_interval=0, progress=False, device="cpu")
    runs = {}
    for ramp in (0.0, 1.0):
        config = dataclasses.replace(base, distractor_ramp=ramp, run_dir=str(tmp_path / f"ramp{ramp}"))
        runs[ramp] = first_update_scalars(train(config).run_dir)
    plain, ramped = runs[0.0], runs[1.0]
    assert plain["forage/distractor_eaten"] > 0  # the test means something only if distractors were eaten
    for tag in ("charts/episodic_return", "forage/distractor_eaten", "forage/precision"):
        assert ramped[tag] == plain[tag], tag
    assert ramped["charts/distractor_ramp"] == 0.0 and "charts/distractor_ramp" not in plain
    assert ramped["losses/value_loss"] != plain["losses/value_loss"]


def test_ramp_is_refused_where_foragers_share_the_team_reward(tmp_path):
    config = Config(env="MultiBerry-v0", num_envs=2, num_steps=8, total_steps=64, distractor_ramp=0.5,
                    env_kwargs={"cooperative": True}, progress=False, device="cpu", run_dir=str(tmp_path / "r"))
    with pytest.raises(ConfigError, match="--distractor-ramp: not with cooperative=True"):
        train(config)
