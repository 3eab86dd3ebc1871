"""The controls of the feedback claim (issue 42): the goal-only gate reads nothing but the goal, the
state-only feedback has no goal template, and the lesions that cut one input of the top-down signal
cut exactly that one."""

import gymnasium as gym
import pytest
import torch

import agents
import envs  # noqa: F401  (registers the ids)
from agents.runner import Carry
from compare.grid import lesion_applies, preset_unit

GATE = {"top_down_inputs": "goal"}
STATE_ONLY = {"goal_template": 0.0}


@pytest.fixture(scope="module")
def spaces():
    env = gym.make_vec("CuedBerry-v1", num_envs=1)
    yield env.single_observation_space, env.single_action_space
    env.close()


def build(spaces, **overrides):
    torch.manual_seed(0)
    return agents.make_agent("feedback", *spaces, **overrides)


def gains(agent, goal, h, top, cut=None):
    out = agent.feedback(goal, h, top, cut)
    return torch.cat(out.channel + out.query, dim=1)


def inputs(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    goal = torch.nn.functional.one_hot(torch.randint(0, 6, (n,), generator=g), 6).float()
    return goal, torch.randn(n, 60, generator=g), torch.randn(n, 60, generator=g)


def test_the_gate_reads_the_goal_alone(spaces):
    gate, feedback = build(spaces, **GATE), build(spaces)
    goal, h, top = inputs()
    # flipping h(t-1) or the top features leaves the gate's gains unchanged, and changes feedback's
    assert torch.equal(gains(gate, goal, h, top), gains(gate, goal, -h, -top))
    assert not torch.allclose(gains(feedback, goal, h, top), gains(feedback, goal, -h, top))
    assert not torch.allclose(gains(feedback, goal, h, top), gains(feedback, goal, h, -top))
    # the goal moves them
    assert not torch.allclose(gains(gate, goal, h, top), gains(gate, goal.roll(1, dims=1), h, top))
    assert gate.feedback.reads == ("goal",) and gate.feedback.signal.in_features == 6


def test_state_only_feedback_has_no_template_and_reads_the_goal_only_through_z(spaces):
    state = build(spaces, **STATE_ONLY)
    assert state.feedback.template is None and build(spaces).feedback.template is not None
    goal, h, top = inputs()
    other = goal.roll(1, dims=1)
    assert not torch.allclose(gains(state, goal, h, top), gains(state, other, h, top))
    # with the goal cut from z, nothing else carries it: the gains no longer depend on it
    assert torch.equal(gains(state, goal, h, top, "goal"), gains(state, other, h, top, "goal"))
    # feedback's template carries it unless the cut takes the template's goal too
    feedback = build(spaces)
    assert torch.equal(gains(feedback, goal, h, top, "goal"), gains(feedback, other, h, top, "goal"))


@pytest.mark.parametrize("cut", ["core", "top"])
def test_each_cut_silences_its_input_and_only_it(spaces, cut):
    feedback = build(spaces)
    goal, h, top = inputs()
    flipped = {"core": (goal, -h, top), "top": (goal, h, -top)}[cut]
    assert torch.equal(gains(feedback, goal, h, top, cut), gains(feedback, *flipped, cut))
    assert not torch.allclose(gains(feedback, goal, h, top, cut), gains(feedback, goal.roll(1, dims=1), h, top, cut))


def test_the_agent_applies_the_cut_lesions_in_its_step(spaces):
    feedback = build(spaces)
    env = gym.make_vec("CuedBerry-v1", num_envs=4)
    obs, _ = env.reset(seed=0)

    def step(lesion, h_scale):
        feedback.set_lesion(lesion)
        carry = Carry.start(feedback, 4, torch.device("cpu"))
        carry.episode_start = torch.zeros(4, dtype=torch.bool)  # mid-episode: h(t-1) is read, not reset
        carry.state["h"] = torch.randn(4, 60, generator=torch.Generator().manual_seed(2)) * h_scale
        with torch.no_grad():
            out = carry.act(feedback, obs)
        return out.internals["channel_gain/conv1"]

    assert torch.equal(step("feedback_core", 1.0), step("feedback_core", -1.0))
    assert not torch.equal(step(None, 1.0), step(None, -1.0))
    feedback.set_lesion(None)
    env.close()


def test_the_controls_match_the_presets_parameters_and_their_lesions_apply_where_they_read(spaces):
    counts = {name: agents.make_agent(preset, *spaces, **ov).num_parameters() for name, preset, ov in (
        ("feedback", "feedback", {}), ("gate", "feedback", GATE), ("state", "feedback", STATE_ONLY),
        ("early", "early", {}), ("recurrent", "recurrent", {}))}
    for name, count in counts.items():
        assert abs(count / counts["feedback"] - 1) < 0.04, (name, counts)
    gate = preset_unit("CuedBerry-v1", "feedback+top_down_inputs=goal", 1, "easy")
    feedback = preset_unit("CuedBerry-v1", "feedback", 1, "easy")
    assert [lesion_applies(gate, cut, "CuedBerry-v1") for cut in ("feedback_goal", "feedback_core", "feedback_top")] \
        == [True, False, False]
    assert all(lesion_applies(feedback, cut, "CuedBerry-v1") for cut in ("feedback_goal", "feedback_core", "feedback_top"))
    with pytest.raises(ValueError, match="top_down_inputs must name some of"):
        agents.make_config("feedback", top_down_inputs="core+goal")
    with pytest.raises(ValueError, match="every pass gets the same gains"):
        agents.make_config("feedback", top_down_inputs="goal", passes=3)
