"""The carry's next-step autoreset rules, checked against the world's own episode bookkeeping."""

import gymnasium as gym
import torch

import agents
import envs  # noqa: F401  (registers the ids)
from agents.runner import Carry, env_action, sample


def test_carry_follows_next_step_autoreset():
    # Episodes of 3 steps in 3 worlds: over 10 steps every rule is exercised several times.
    env = gym.make_vec("RedBerry-v1", num_envs=3, max_episode_steps=3)
    agent = agents.make_agent("dopamine", env.single_observation_space, env.single_action_space)
    torch.manual_seed(0)
    obs, _ = env.reset(seed=5)
    carry = Carry.start(agent, env.num_envs, "cpu")
    starts_seen = 0
    with torch.no_grad():
        for _ in range(10):
            # The world's own bookkeeping: the reset step makes step 0; needs_reset marks a final obs.
            assert torch.equal(carry.episode_start, env.state.episode_step == 0)
            assert torch.equal(carry.valid, ~env.state.needs_reset)
            out = carry.act(agent, obs)
            # Rows that start an episode act exactly as a fresh agent does: their state was zeroed.
            fresh = agent(obs, agent.initial_state(3), torch.ones(3, dtype=torch.bool), torch.zeros(3))
            rows = carry.episode_start
            starts_seen += int(rows.sum())
            torch.testing.assert_close(out.dist.logits[rows], fresh.dist.logits[rows])
            torch.testing.assert_close(out.value[rows], fresh.value[rows])
            action = out.dist.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            previous = carry
            carry = carry.advance(out, action, reward, terminated, truncated)
            assert torch.equal(carry.prev_reward, reward) and torch.equal(carry.prev_action, action)
            assert torch.equal(carry.episode_start, ~previous.valid)
            assert (reward[carry.episode_start] == 0).all()  # the reset step pays nothing
            assert carry.state is out.state
    assert starts_seen >= 6  # the first step plus at least one autoreset per world


def test_env_action_clips_continuous_only():
    assert torch.equal(env_action(torch.tensor([0, 4])), torch.tensor([0, 4]))
    assert torch.equal(env_action(torch.tensor([[-3.0, 0.5]])), torch.tensor([[-1.0, 0.5]]))


def test_sample_from_a_generator_leaves_the_global_rng_alone():
    logits = torch.randn(4, 5)
    dist = torch.distributions.Categorical(logits=logits)
    torch.manual_seed(1)
    expected_next = torch.rand(1)
    torch.manual_seed(1)
    a = sample(dist, torch.Generator().manual_seed(3))
    b = sample(dist, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(1), expected_next)
