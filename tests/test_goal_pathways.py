"""Where the goal enters: late fusion, early input planes, top-down gain; and normalised attention."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import PRESETS, agent_from_config, make_agent
from agents.config import GOAL_PATHWAYS


pytestmark = pytest.mark.usefixtures("one_thread_everywhere")  # small convolutions: more threads only contend


def spaces(size=24, palette=6):
    obs = gym.spaces.Dict({
        "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
        "goal": gym.spaces.Box(0.0, 1.0, (palette,), np.float32),
    })
    return obs, gym.spaces.Discrete(5)


def batch(n=4, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)
    goal = torch.nn.functional.one_hot(torch.arange(n) % 6, 6).float()
    return {"image": image, "goal": goal}


def first_layer(agent, obs):
    """conv1's output as the agent computes it (before any top-down gain)."""
    image = obs["image"].permute(0, 3, 1, 2).float() / 255
    if agent.config.goal_pathway == "early":
        image = torch.cat([image, obs["goal"][:, :, None, None].expand(-1, -1, *image.shape[2:])], 1)
    return agent.trunk.layer(0, image)


def test_each_pathway_has_a_matched_preset():
    pathways = {PRESETS[name].goal_pathway for name in ("recurrent", "early", "feedback")}
    assert pathways == set(GOAL_PATHWAYS)
    counts = {name: make_agent(name, *spaces()).num_parameters() for name in PRESETS}
    assert max(counts.values()) / min(counts.values()) - 1 <= 0.10, counts


def test_early_planes_widen_conv1_and_make_it_goal_dependent():
    torch.manual_seed(0)
    early, late = make_agent("early", *spaces()), make_agent("recurrent", *spaces())
    assert early.trunk.convs[0].in_channels == 3 + 6
    assert late.trunk.convs[0].in_channels == 3
    obs = batch()
    other = {"image": obs["image"], "goal": obs["goal"].roll(1, dims=1)}
    with torch.no_grad():
        assert not torch.allclose(first_layer(early, obs), first_layer(early, other))
        assert torch.equal(first_layer(late, obs), first_layer(late, other))  # late: vision is goal-blind


@pytest.mark.parametrize("preset", ["feedback", "full"])
def test_spatial_gain_redistributes_with_mean_one(preset):
    torch.manual_seed(1)
    agent = make_agent(preset, *spaces(), spatial_strength=0.95)
    with torch.no_grad():  # make the attention field strongly non-uniform
        for p in agent.feedback.parameters():
            p.mul_(8.0)
        out = agent(batch(), agent.initial_state(4), torch.ones(4, dtype=torch.bool))
    spatial = out.internals["spatial_gain"]  # (N, h, w)
    torch.testing.assert_close(spatial.mean(dim=(1, 2)), torch.ones(4))
    assert (spatial > 0).all()
    assert spatial.amax() > 1.3 and spatial.amin() < 0.7  # it shifts gain between places


def test_goal_template_makes_channel_gains_goal_dependent_from_the_start():
    obs = batch()
    obs["image"][:] = obs["image"][0]  # the same view, different goals
    gains = {}
    for std in (0.0, 0.5):
        torch.manual_seed(2)
        agent = make_agent("feedback", *spaces(), goal_template=std)
        assert (agent.feedback.template is None) == (std == 0.0)
        with torch.no_grad():
            out = agent(obs, agent.initial_state(4), torch.ones(4, dtype=torch.bool))
        gains[std] = out.internals["channel_gain/conv1"]  # (N, C)
    spread = {std: (g - g.mean(0)).abs().mean().item() for std, g in gains.items()}
    assert spread[0.5] > 4 * spread[0.0], spread


def test_bad_pathway_and_strengths_are_named():
    with pytest.raises(ValueError, match="goal_pathway.*'late', 'early', 'topdown'.*'middle'"):
        make_agent("recurrent", *spaces(), goal_pathway="middle")
    with pytest.raises(ValueError, match="spatial_strength.*1.0"):
        make_agent("feedback", *spaces(), spatial_strength=1.0)
    with pytest.raises(ValueError, match="passes=2 needs goal_pathway='topdown'"):
        make_agent("early", *spaces(), passes=2)


def test_configs_from_before_goal_pathway():
    # An agent config exactly as a checkpoint of b3b5903 (before goal_pathway) stored it.
    old = {"channels": [16, 32, 32], "strides": [2, 2, 1], "grid": 6, "embed": 64, "hidden": 64, "core": "gru",
           "feedback": False, "passes": 1, "gain_layers": 2, "top_down": 32, "gain_strength": 1.0,
           "spatial_strength": 1.0, "whatwhere": False, "what_channels": 32, "keypoints": 16, "plastic": False,
           "plastic_size": 32, "modulator": "td", "gamma": 0.99, "hebb_clip": 1.0}
    agent = agent_from_config(old, *spaces())
    as_then = make_agent("recurrent", *spaces(), reward_input=False, action_input=False)  # before r(t-1), a(t-1) too
    assert agent.config.goal_pathway == "late" and agent.num_parameters() == as_then.num_parameters()
    with pytest.raises(ValueError, match="feedback=True.*retrain"):
        agent_from_config({**old, "feedback": True}, *spaces())


def test_conv1_over_early_planes_equals_conv1_over_the_built_planes_borders_included():
    """The early planes are never built (`ConvTrunk.first_layer`); the result is conv1 over the concatenated
    [image, planes] input, at every pixel, zero-padded borders included, and so are its gradients."""
    torch.manual_seed(0)
    agent = make_agent("early", *spaces(size=20))
    obs = batch(size=20)
    built = first_layer(agent, obs)
    (built * torch.linspace(0, 1, built.numel()).view_as(built)).sum().backward()
    expected_grad = agent.trunk.convs[0].weight.grad.clone()
    agent.zero_grad()
    image = obs["image"].permute(0, 3, 1, 2).float() / 255
    fast = agent.trunk.first_layer(image, obs["goal"])
    torch.testing.assert_close(fast, built, rtol=1e-5, atol=1e-6)
    (fast * torch.linspace(0, 1, fast.numel()).view_as(fast)).sum().backward()
    torch.testing.assert_close(agent.trunk.convs[0].weight.grad, expected_grad, rtol=1e-4, atol=1e-5)
