"""What a training run shows: its start lines, the progress bar and closing note, the TensorBoard event
file (custom-scalars layout, HParams, no constant charts, the final evaluation) and its pictures (the
spatial gain as a heat map, the video's captions). Every event-file test reads a real run's file back."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import agents
from envs.config import PALETTE_RGB
from training import Config, ConfigError, parse_config, train
from training import images
from training.stats import EpisodeStats

pytestmark = pytest.mark.usefixtures("one_thread_everywhere")  # tiny runs: spare threads only contend

FINAL_EPISODES = 4
# 4 updates of 8 worlds x 16 steps; 24-step episodes end inside the run; an override of each kind.
TINY = Config(agent="feedback", num_envs=8, num_steps=16, total_steps=512, max_episode_steps=24, update_epochs=1,
              num_minibatches=2, image_interval=2, video_interval=0, checkpoint_interval=0, progress=True,
              final_episodes=FINAL_EPISODES, device="cpu",
              agent_overrides={"passes": 2, "reward_input": False})


def events(run_dir: str) -> EventAccumulator:
    acc = EventAccumulator(run_dir, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread_everywhere):
    """One tiny run, its console output (stdout and the bar's stderr, in order) and its event file."""
    config = dataclasses.replace(TINY, run_dir=str(tmp_path_factory.mktemp("logbook") / "run"))
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        result = train(config)
    return config, result, console.getvalue(), events(result.run_dir)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


# --- the console -----------------------------------------------------------------------------


def test_how_to_watch_is_printed_before_the_first_update(tiny_run):
    _, result, console, _ = tiny_run
    watch = console.index(f"tensorboard --logdir {result.run_dir.rsplit('/', 1)[0]}")
    legend = console.index("Progress bar: SPS = env steps per second")
    first_update = console.index("128/512 steps")  # the bar after update 1
    assert watch < first_update and legend < first_update
    for word in ("ret =", "score =", "r100 ="):
        assert word in console[legend:legend + 400]


def test_the_bar_counts_whole_steps_and_is_not_drawn_again_after_the_closing_note(tiny_run):
    _, _, console, _ = tiny_run
    assert "512/512 steps" in console  # not tqdm's unit scale, which shows 999,424 as "999k"
    assert "feedback seed 1:" in console  # which run it is (a population's, a compare's)
    closing = console.index("Finished 4 updates")
    assert "steps [" not in console[closing:], console[closing:]


def test_the_closing_note_reports_the_final_evaluation(tiny_run):
    _, _, console, acc = tiny_run
    closing = console[console.index("Finished 4 updates"):]
    score = acc.Scalars("final/normalized_score")[-1].value
    assert f"Final evaluation, {FINAL_EPISODES} episodes of 24 steps" in closing
    assert f"normalised score {score:.2f} ± " in closing


# --- the event file --------------------------------------------------------------------------


def test_the_custom_scalars_layout_opens_with_forage(tiny_run):
    _, _, _, acc = tiny_run
    (event,) = acc.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(event.tensor_proto.string_val[0])
    titles = [c.title for c in layout.category]
    assert titles == ["forage", "attention", "losses", "charts"]  # feedback: no gating, no dopamine
    forage = [tag for chart in layout.category[0].chart for tag in chart.multiline.tag]
    assert forage[:3] == ["forage/normalized_score", "forage/precision", "charts/reward_per_100_steps"]
    assert {"forage/targets_per_100_steps", "forage/distractors_per_100_steps"} <= set(forage)


def test_hparams_show_the_run_and_each_override_first_with_booleans_as_booleans(tiny_run):
    _, _, _, acc = tiny_run
    content = acc.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    hparams = start.hparams
    assert hparams["env"].string_value == "RedBerry-v1" and hparams["agent"].string_value == "feedback"
    assert hparams["seed"].number_value == 1 and hparams["total_steps"].number_value == 512
    assert hparams["agent.passes"].number_value == 2
    assert hparams["agent.reward_input"].WhichOneof("kind") == "bool_value"
    assert hparams["agent.reward_input"].bool_value is False
    assert hparams["anneal_lr"].WhichOneof("kind") == "bool_value" and hparams["anneal_lr"].bool_value
    assert "agent_overrides" not in hparams
    # The HParams dashboard lists the hparams marked `differs` first and shows five: the run's own.
    first = {info.name for info in experiment.hparam_infos if info.differs}
    assert first == {"env", "agent", "seed", "total_steps", "agent.passes", "agent.reward_input"}
    assert [m.name.tag for m in experiment.metric_infos][:3] == ["final/normalized_score", "final/precision",
                                                                 "final/reward_per_100_steps"]


def test_no_chart_is_constant_by_construction(tiny_run):
    _, _, _, acc = tiny_run
    scalars = set(acc.Tags()["scalars"])
    assert "charts/episodic_return" in scalars and "attention/spatial_gain_std" in scalars
    for constant in ("charts/episodic_length", "attention/spatial_gain_mean", "eval/episodic_return"):
        assert constant not in scalars


def test_final_scalars_are_an_evaluation_of_the_saved_policy_on_fresh_worlds(tiny_run):
    """final/* is logged once, at the last step, over K episodes, and equals compare's evaluation of the
    checkpoint on worlds seed + 3,000,000 + i: not training's last episodes."""
    from compare.evaluate import AgentPolicy, EnvSpec, load_agent, make_env, run_episodes

    config, result, _, acc = tiny_run
    for tag in ("final/episodic_return", "final/normalized_score", "final/precision", "final/reward_per_100_steps"):
        (event,) = acc.Scalars(tag)
        assert event.step == result.global_step
    assert acc.Scalars("final/episodes")[-1].value == FINAL_EPISODES
    payload = torch.load(f"{result.run_dir}/checkpoint.pt", weights_only=True)
    spec = EnvSpec("final", config.env, (("max_episode_steps", 24),), False, FINAL_EPISODES, config.seed + 3_000_000)
    env = make_env(spec, torch.device("cpu"))
    measured = run_episodes(env, spec, AgentPolicy(load_agent(payload, env)))
    env.close()
    final = {tag: acc.Scalars(f"final/{tag}")[-1].value for tag in
             ("episodic_return", "episodic_return_lower", "episodic_return_upper", "reward_per_100_steps")}
    assert final["episodic_return"] == pytest.approx(measured["return_mean"], abs=1e-5)
    assert final["reward_per_100_steps"] == pytest.approx(100 * measured["return_mean"] / 24, abs=1e-4)
    half = 3.182446305284263 * measured["return_se"]  # Student t, 3 degrees of freedom, 97.5%
    assert final["episodic_return_upper"] - final["episodic_return"] == pytest.approx(half, abs=1e-4)
    assert final["episodic_return"] - final["episodic_return_lower"] == pytest.approx(half, abs=1e-4)


def test_final_episodes_zero_skips_the_evaluation_and_bad_values_are_refused(tmp_path):
    config = dataclasses.replace(TINY, total_steps=128, final_episodes=0, image_interval=0, progress=False,
                                 run_dir=str(tmp_path / "run"))
    result = train(config)
    assert not [t for t in events(result.run_dir).Tags()["scalars"] if t.startswith("final/")]
    assert parse_config(["--final-episodes", "0"]).final_episodes == 0
    for bad in ("-1", "70000"):
        with pytest.raises(ConfigError, match="--final-episodes: got"):
            parse_config(["--final-episodes", bad])


# --- statistics ------------------------------------------------------------------------------


def _step_info(returns, staggered=None, lengths=None):
    n = len(returns)
    forage = {"r": torch.tensor(returns), "l": torch.tensor(lengths or [20] * n),
              "target_eaten": torch.tensor(returns).clamp(min=0), "distractor_eaten": (-torch.tensor(returns)).clamp(min=0)}
    if staggered is not None:
        forage["staggered"] = torch.tensor(staggered)
    return {"_forage": torch.ones(n, dtype=torch.bool), "forage": forage,
            "target_eaten": torch.tensor([1.0] * n), "distractor_eaten": torch.zeros(n)}


def test_a_staggered_first_episode_counts_as_its_share_of_a_full_one_and_its_steps_count():
    stats = EpisodeStats(torch.device("cpu"), episode_steps=20)
    # A first episode cut at 5 of 20 steps with return 1 counts as a quarter of an episode: (1 + 5 + 3) / 2.25.
    stats.record(_step_info([1.0, 5.0, 3.0], staggered=[True, False, False], lengths=[5, 20, 20]), torch.ones(3))
    means = stats.read()
    assert means["charts/episodic_return"] == pytest.approx(9.0 / 2.25)
    assert means["forage/target_eaten"] == pytest.approx(9.0 / 2.25)
    assert means["charts/episodic_length"] == pytest.approx(20.0)  # a full episode's worth of steps
    assert means["charts/reward_per_100_steps"] == 100.0  # all three steps count
    stats.record(_step_info([1.0], staggered=[True], lengths=[5]), torch.ones(1))  # alone: scaled to a full one
    assert stats.read()["charts/episodic_return"] == pytest.approx(4.0)
    stats.record(_step_info([1.0, 5.0, 3.0]), torch.ones(3))  # worlds that do not stagger: no key
    assert stats.read()["charts/episodic_return"] == 3.0


def test_without_the_full_length_a_staggered_first_episode_is_left_out_of_the_means():
    stats = EpisodeStats(torch.device("cpu"))
    stats.record(_step_info([1.0, 5.0, 3.0], staggered=[True, False, False], lengths=[5, 20, 20]), torch.ones(3))
    means = stats.read()
    assert means["charts/episodic_return"] == 4.0  # (5 + 3) / 2
    assert means["charts/reward_per_100_steps"] == 100.0


# --- pictures --------------------------------------------------------------------------------


def nearly_flat_gain(k: int = 2, side: int = 11) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    gain = 1.0 + 0.02 * torch.randn(k, side, side, generator=generator)  # std 0.02, as a trained map can be
    return gain / gain.mean(dim=(1, 2), keepdim=True)


def test_a_nearly_flat_gain_map_still_shows_its_variation():
    gain = nearly_flat_gain()[0]
    heat, low, high = images.heat_map(gain, (88, 88))
    assert (low, high) == (pytest.approx(float(gain.min())), pytest.approx(float(gain.max())))
    light = luminance(heat)
    assert light.max() - light.min() > 150  # the whole colour scale, from dark purple to yellow
    brightest, darkest = np.unravel_index(light.argmax(), light.shape), np.unravel_index(light.argmin(), light.shape)
    assert gain[brightest[0] // 8, brightest[1] // 8] == gain.max()
    assert gain[darkest[0] // 8, darkest[1] // 8] == gain.min()
    flat, low, high = images.heat_map(torch.ones(11, 11), (88, 88))  # exactly flat: one colour, no error
    assert low == high == 1.0 and len(np.unique(flat.reshape(-1, 3), axis=0)) == 1


def test_the_view_panel_has_a_colour_bar_the_goal_colour_and_legible_text():
    views = np.full((2, 24, 24, 3), 90, np.uint8)
    goals = np.zeros((2, 6), np.float32)
    goals[0, 4] = 1.0  # blue; world 1's goal is hidden
    scale, top = 4, images.CAPTION_HEIGHT
    panel = images.view_panel(views, nearly_flat_gain(), goals, scale=scale)
    side = 24 * scale
    row0 = top + images.CAPTION_HEIGHT  # the header, world 0's goal strip
    # The colour bar, right of the heat map: brightest at the top, darkest at the bottom, monotonically.
    bar_x = 2 * side + 2 * images.GAP + images.COLOUR_BAR_WIDTH // 2
    column = luminance(panel[row0:row0 + side, bar_x])
    assert np.all(np.diff(column) <= 0) and column[0] - column[-1] > 150
    labels = panel[row0:row0 + side, bar_x + images.COLOUR_BAR_WIDTH:]
    assert (labels[:16] < 100).all(-1).any() and (labels[-16:] < 100).all(-1).any()  # its max and min written
    # The goal's colour as a swatch above world 0, none above world 1 (hidden goal).
    strip0, strip1 = panel[top:row0], panel[row0 + side + images.GAP:row0 + side + images.GAP + top]
    blue = np.array(PALETTE_RGB[4], np.uint8)
    assert (strip0 == blue).all(-1).sum() >= 50
    assert not any((strip1 == np.array(c, np.uint8)).all(-1).any() for c in PALETTE_RGB)
    # The header's text is at least 12 pixels tall (a 13 px TrueType font, legible at 100% zoom).
    rows = np.where((panel[:top] < 100).all(-1).any(1))[0]
    assert rows.max() - rows.min() + 1 >= 12


def test_view_overlay_is_on_an_absolute_gain_scale():
    view = np.full((8, 8, 3), 200, np.uint8)
    even = torch.ones(4, 4)  # the map's mean: half brightness
    peaked = torch.ones(4, 4)
    peaked[3, 3] = 3.0  # a strong peak elsewhere must not dim the places at gain 1
    lit_even, lit_peaked = images.overlay_gain(view, even, 2), images.overlay_gain(view, peaked, 2)
    assert lit_even[0, 0, 0] == 100 and lit_peaked[0, 0, 0] == 100
    assert lit_peaked[-1, -1, 0] == 200  # gain >= 2 shows the view as it is
    assert images.overlay_gain(view, torch.zeros(4, 4), 2).max() == 20  # the floor: 10% brightness


def test_eval_video_frames_and_view_image_carry_their_labels():
    """The eval GIF says step, return and goal under each frame; the view image says what its columns are."""
    import gymnasium as gym

    env = gym.make_vec("CuedBerry-v1", num_envs=1, max_episode_steps=6)
    agent = agents.make_agent("feedback", env.single_observation_space, env.single_action_space)
    frames, _ = images.record_episode(agent, env, 0, torch.device("cpu"))
    strips = [f[-images.CAPTION_HEIGHT:] for f in frames]
    for strip in strips:
        assert (strip == 255).mean() > 0.7 and (strip < 100).any()  # black text on a white strip
    assert not np.array_equal(strips[0], strips[-1])  # the step count moves
    obs = env.reset(seed=0)[0]
    out = agent(obs, agent.initial_state(1), torch.ones(1, dtype=torch.bool), torch.zeros(1))
    panel = images.view_panel(obs["image"].numpy(), out.internals["spatial_gain"], obs["goal"].numpy())
    header = panel[:images.CAPTION_HEIGHT]
    assert (header == 255).mean() > 0.7 and (header < 100).any()


# --- curves from the first minute --------------------------------------------------------------


@pytest.mark.parametrize("stagger", [True, False])
def test_staggered_first_episodes_give_a_score_point_every_update(tmp_path, stagger):
    """The default run at a smaller scale: 200k steps of 256 worlds x 16 steps with 500-step episodes are 48
    updates over 1.6 episode lengths; here 20 updates of 64 worlds x 10 steps over 2 episode lengths of 100.
    Staggered, episodes end in (nearly) every update; without it, all worlds end theirs together, once."""
    config = Config(agent="feedforward", num_envs=64, num_steps=10, total_steps=64 * 10 * 20, max_episode_steps=100,
                    update_epochs=1, num_minibatches=2, image_interval=0, video_interval=0, checkpoint_interval=0,
                    progress=False, final_episodes=0, device="cpu", stagger_start=stagger,
                    run_dir=str(tmp_path / "run"))
    with contextlib.redirect_stdout(io.StringIO()):
        result = train(config)
    points = events(result.run_dir).Scalars("forage/normalized_score")
    if stagger:
        assert len(points) >= 19, [p.step for p in points]  # P(no world ends in an update) = 0.9^64
        assert points[0].step == 640  # from the first update
    else:
        assert [p.step for p in points] == [6400]  # the next ends after 201 steps: next-step autoreset


def test_a_config_saved_before_the_stagger_reads_as_trained_without_it():
    from training.config import from_dict, to_dict

    saved = to_dict(Config())
    assert saved["stagger_start"] is True  # new runs stagger
    del saved["stagger_start"]  # a config.json written before the option
    assert from_dict(saved, "config.json").stagger_start is False  # resumed, or named by compare --from, as trained
