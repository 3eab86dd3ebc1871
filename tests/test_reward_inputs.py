"""Every agent receives its rewards: the core of every preset reads r(t-1) and a(t-1) (the meta-RL
inputs), zero at an episode start, and an agent saved before the core read them loads as it was trained."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from agents import PRESETS, agent_from_config, make_agent
from tests.test_agents import random_obs, spaces


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Tiny batches: one torch thread (conftest.py)."""


def policy_and_value(agent, reward, action, episode_start=False, n=4):
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in agent.initial_state(n).items()}  # a mid-episode memory
    with torch.no_grad():
        out = agent(random_obs(n), state, torch.full((n,), episode_start), reward, action)
    params = out.dist.logits if hasattr(out.dist, "logits") else out.dist.mean
    return params, out.value


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_core_reads_the_previous_reward_and_action(preset, continuous):
    torch.manual_seed(1)
    agent = make_agent(preset, *spaces(continuous=continuous))
    assert agent.config.reward_input and agent.config.action_input  # on by default
    action = torch.randn(4, 2) if continuous else torch.tensor([0, 1, 2, 3])
    other_action = -action if continuous else torch.tensor([4, 4, 0, 1])
    reward = torch.tensor([1.0, -1.0, 1.0, 0.5])
    base = policy_and_value(agent, reward, action)
    flipped = policy_and_value(agent, -reward, action)
    moved = policy_and_value(agent, reward, other_action)
    for changed, what in ((flipped, "r(t-1)"), (moved, "a(t-1)")):
        assert (changed[0] - base[0]).abs().amax(dim=1).min() > 1e-6, f"{preset}: some row's policy ignores {what}"
        assert (changed[1] - base[1]).abs().min() > 1e-6, f"{preset}: some row's value ignores {what}"
    # at an episode start both are the previous episode's, and count as zero
    start = policy_and_value(agent, reward, action, episode_start=True)
    start_zero = policy_and_value(agent, torch.zeros(4), torch.zeros_like(action), episode_start=True)
    torch.testing.assert_close(start[0], start_zero[0], rtol=0, atol=0)
    torch.testing.assert_close(start[1], start_zero[1], rtol=0, atol=0)


def test_with_the_inputs_off_the_policy_is_blind_to_them():
    """The old agents (and --agent-overrides reward_input false action_input false): the core reads neither."""
    torch.manual_seed(1)
    agent = make_agent("recurrent", *spaces(), reward_input=False, action_input=False)
    action = torch.tensor([0, 1, 2, 3])
    base = policy_and_value(agent, torch.ones(4), action)
    other = policy_and_value(agent, -torch.ones(4), torch.tensor([4, 4, 4, 4]))
    torch.testing.assert_close(base[0], other[0], rtol=0, atol=0)


def test_a_config_saved_before_the_inputs_existed_loads_as_it_was_trained():
    torch.manual_seed(1)
    old = make_agent("feedback", *spaces(), reward_input=False, action_input=False)
    saved = dataclasses.asdict(old.config)
    del saved["reward_input"], saved["action_input"]  # what a checkpoint of the previous version holds
    rebuilt = agent_from_config(saved, *spaces(), gamma=0.99)
    assert not rebuilt.config.reward_input and not rebuilt.config.action_input
    rebuilt.load_state_dict(old.state_dict())  # the same shapes: the core reads [top, goal] only

