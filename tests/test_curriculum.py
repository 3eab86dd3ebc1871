"""The curricula: --distractor-ramp (the schedule, and that logs show the task's true reward while the
agent learns from the ramped one) and --colour-prior-ramp (ReversalBerry's paying colour drawn with a
prior that falls to the worlds' own)."""

import dataclasses

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training import Config, ConfigError, train
from training.checks import validate
from training.config import from_dict
from training.curriculum import colour_prior, distractor_ramp


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
    base = Config(env="CuedBerry-v1", agent="feedforward", num_envs=8, num_steps=32, total_steps=512,
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
    config = Config(env="MultiBerry-v1", num_envs=2, num_steps=8, total_steps=64, distractor_ramp=0.5,
                    env_kwargs={"cooperative": True}, progress=False, device="cpu", run_dir=str(tmp_path / "r"))
    with pytest.raises(ConfigError, match="--distractor-ramp: not with cooperative=True"):
        train(config)


def test_colour_prior_falls_linearly_to_the_worlds_own_share():
    ramp = Config(env="ReversalBerry-v1", colour_prior_ramp=0.5)
    assert [colour_prior(ramp, u, 10, 0.5) for u in (1, 2, 6, 7, 10)] == [1.0, 0.9, 0.5, 0.5, 0.5]
    assert colour_prior(ramp, 6, 10, 0.2) == pytest.approx(0.2)
    assert all(colour_prior(Config(), u, 10, 0.5) == 0.5 for u in (1, 5, 10))  # RedBerry-v1: off
    # Left out, it is the task's own: on for ReversalBerry-v1, off elsewhere; a config saved before it
    # existed trained without it.
    assert Config(env="ReversalBerry-v1").prior_ramp == 0.5 and Config(env="CuedBerry-v1").prior_ramp == 0.0
    assert Config(env="ReversalBerry-v1", colour_prior_ramp=0.0).prior_ramp == 0.0
    # So is the rollout length: 64 steps on ReversalBerry-v1 (a reward bound to a colour eaten long
    # before), 16 elsewhere, and a given one wins; a saved config holds its own.
    assert Config(env="ReversalBerry-v1").num_steps == 64 and Config(env="CuedBerry-v1").num_steps == 16
    assert Config(env="ReversalBerry-v1", num_steps=8).num_steps == 8
    assert from_dict(dataclasses.asdict(Config(env="ReversalBerry-v1", num_steps=32)), "r.json").num_steps == 32
    from training.config import parse_config  # and so from the command line, where --env is read after the defaults

    assert parse_config(["--env", "ReversalBerry-v1"]).num_steps == 64 and parse_config([]).num_steps == 16
    assert parse_config(["--env", "ReversalBerry-v1", "--num-steps", "8"]).num_steps == 8
    saved = dataclasses.asdict(Config(env="ReversalBerry-v1"))
    saved.pop("colour_prior_ramp")
    assert from_dict(saved, "old.json").prior_ramp == 0.0
    with pytest.raises(ConfigError, match="--colour-prior-ramp: got 0.5 with --env CuedBerry-v1"):
        validate(Config(env="CuedBerry-v1", colour_prior_ramp=0.5))
    with pytest.raises(ConfigError, match="--colour-prior-ramp: got -1; allowed: a number in"):
        validate(Config(env="ReversalBerry-v1", colour_prior_ramp=-1))


def test_first_colour_share_decides_which_colour_pays_at_a_reset():
    import gymnasium as gym
    import torch

    import envs  # noqa: F401  (registers the ids)

    for share, expected in ((1.0, 1.0), (0.0, 0.0)):
        env = gym.make_vec("ReversalBerry-v1", num_envs=64, first_colour_share=share)
        env.reset(seed=0)
        assert (env.unwrapped.state.target_colour == 0).float().mean().item() == expected
    env = gym.make_vec("ReversalBerry-v1", num_envs=512)
    env.reset(seed=0)
    assert 0.4 < (env.unwrapped.state.target_colour == 0).float().mean().item() < 0.6
    assert set(torch.unique(env.unwrapped.state.target_colour).tolist()) == {0, 4}


def test_colour_prior_ramp_sets_the_worlds_share_per_update(tmp_path):
    # 6 updates, ramp 0.5: the share falls over the first 3 and is the worlds' 0.5 from the 4th; the
    # trainer sets it on the worlds it steps and logs what they used. v0's free berries make 8-step episodes
    # of an untrained agent eat, so its precision curve has points before the ramp's end to leave out.
    base = Config(env="ReversalBerry-v0", agent="feedforward", num_envs=16, num_steps=8, total_steps=16 * 8 * 6,
                  max_episode_steps=8, colour_prior_ramp=0.5, update_epochs=1, num_minibatches=2, image_interval=0,
                  video_interval=0, checkpoint_interval=0, progress=False, device="cpu", run_dir=str(tmp_path / "r"))
    train(base)
    acc = EventAccumulator(str(tmp_path / "r"))
    acc.Reload()
    shares = [round(e.value, 6) for e in acc.Scalars("charts/first_colour_share")]
    assert shares == [1.0, pytest.approx(5 / 6), pytest.approx(4 / 6), 0.5, 0.5, 0.5]
    # compare's learning curves start once every world has had an episode in the worlds' own share:
    # the ramp's end (384 steps) plus one episode (8 steps) of every world (16).
    from compare.store import PRECISION_TAG, curriculum_end, read_curve

    assert curriculum_end(str(tmp_path / "r")) == 384 + 8 * 16
    logged = [e.step for e in acc.Scalars(PRECISION_TAG)]
    assert min(logged) < 512 and [step for step, _ in read_curve(str(tmp_path / "r"), PRECISION_TAG)] == [
        step for step in logged if step >= 512]


@pytest.mark.parametrize("task", ["CuedBerry-v1", "MultiBerry-v1"])
def test_reconfigure_draws_as_an_env_made_with_those_knobs(task):
    # Same seed, same actions: an env reconfigured to less foliage and no noise shows, from its next
    # step, what an env made with them shows (noise and radius do not touch the worlds' physics).
    import gymnasium as gym
    import torch

    import envs  # noqa: F401  (registers the ids)

    size = {"num_envs": 4} if task == "CuedBerry-v1" else {"num_envs": 2, "num_agents": 2}
    cluttered = gym.make_vec(task, **size, num_foliage=12, noise=0.25).unwrapped
    lighter = gym.make_vec(task, **size, num_foliage=12, noise=0.0, foliage_radius=0.3).unwrapped
    gen = torch.Generator().manual_seed(0)
    cluttered.reset(seed=3)
    lighter.reset(seed=3)
    actions = [torch.randint(0, 5, (cluttered.num_envs,), generator=gen) for _ in range(6)]
    assert not torch.equal(cluttered.step(actions[0])[0]["image"], lighter.step(actions[0])[0]["image"])
    cluttered.reconfigure(noise=0.0, foliage_radius=0.3)
    for action in actions[1:]:
        assert torch.equal(cluttered.step(action)[0]["image"], lighter.step(action)[0]["image"])
    for knobs, match in (({"num_foliage": 3}, "'num_foliage' cannot change between steps"),
                         ({"foliage_radius": 0.9}, "foliage_radius=0.9; allowed: a number from 0 to 0.6"),
                         ({"noise": True}, "noise=True; allowed: a number from 0 to 1.0")):
        with pytest.raises(ValueError, match=match):
            cluttered.reconfigure(**knobs)


def test_clutter_ramp_grows_foliage_and_noise_per_update_and_needs_clutter(tmp_path):
    # 6 updates, ramp 0.5: the env draws 0, 1/3, 2/3 of the foliage radius and noise, then all of it;
    # compare's curves start after the ramp plus one episode of every world.
    from compare.store import curriculum_end
    from training.curriculum import clutter, worlds_of_update

    base = Config(env="CuedBerry-v1", agent="feedforward", num_envs=16, num_steps=8, total_steps=16 * 8 * 6,
                  max_episode_steps=8, clutter_ramp=0.5, env_kwargs={"num_foliage": 6, "noise": 0.2},
                  update_epochs=1, num_minibatches=2, image_interval=0, video_interval=0, checkpoint_interval=0,
                  progress=False, device="cpu", run_dir=str(tmp_path / "r"))
    assert [clutter(base, u, 6) for u in range(1, 7)] == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1, 1, 1]
    import envs

    worlds = envs.make_config("cued", noise=0.2, num_foliage=6)
    assert worlds_of_update(base, 2, 6, worlds) == {"noise": pytest.approx(0.2 / 3),
                                                    "foliage_radius": pytest.approx(0.6 / 3)}
    assert worlds_of_update(Config(env="CuedBerry-v1"), 1, 6, worlds) == {}
    train(base)
    acc = EventAccumulator(str(tmp_path / "r"))
    acc.Reload()
    drawn = [e.value for e in acc.Scalars("charts/clutter")]
    assert drawn == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0, 1.0, 1.0]
    assert curriculum_end(str(tmp_path / "r")) == 384 + 8 * 16
    with pytest.raises(ConfigError, match="--clutter-ramp: got 0.5 for worlds with no foliage and no noise"):
        train(dataclasses.replace(base, env_kwargs={}, run_dir=str(tmp_path / "plain")))
    with pytest.raises(ConfigError, match="--clutter-ramp: got 2; allowed: a number in"):
        validate(dataclasses.replace(base, clutter_ramp=2))
