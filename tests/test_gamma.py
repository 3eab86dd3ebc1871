"""One gamma (issue 38): the run's --gamma is the discount of GAE and of the dopamine TD error, and every
place that rebuilds an agent from a checkpoint gives it the run's own (or the old agent field it trained with)."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from compare.evaluate import load_agent
from training import ConfigError, load_checkpoint, make_agent, make_env, parse_config, save_checkpoint, train
from training.checkpoint import CHECKPOINT_FILE, read_run

pytestmark = pytest.mark.usefixtures("one_thread_everywhere")

FLAGS = ["--agent", "dopamine", "--num-envs", "8", "--num-steps", "16", "--total-steps", "128",
         "--max-episode-steps", "40", "--update-epochs", "1", "--num-minibatches", "2", "--image-interval", "0",
         "--video-interval", "0", "--no-progress", "--device", "cpu"]


def td_error(agent, env) -> tuple[torch.Tensor, torch.Tensor]:
    """The dopamine signal of the second step of an episode, and r(t-1) + agent.gamma V(t) - V(t-1)."""
    obs, _ = env.reset(seed=0)
    first = agent(obs, agent.initial_state(env.num_envs), torch.ones(env.num_envs, dtype=torch.bool))
    reward = torch.linspace(-1.0, 1.0, env.num_envs)
    out = agent(obs, first.state, torch.zeros(env.num_envs, dtype=torch.bool), reward)
    return out.internals["dopamine"], reward + agent.gamma * out.value - first.value


def test_the_gamma_flag_reaches_the_dopamine_td_error():
    signals = {}
    for gamma in ("0.9", "0.99"):
        config = parse_config(FLAGS + ["--gamma", gamma])
        env = make_env(config, 2, torch.device("cpu"))
        torch.manual_seed(0)  # the same weights: only the discount differs
        agent = make_agent(config, env)  # as the trainer builds it
        assert agent.gamma == float(gamma)
        signals[gamma], expected = td_error(agent, env)
        torch.testing.assert_close(signals[gamma], expected)
        env.close()
    assert (signals["0.9"] - signals["0.99"]).abs().min() > 1e-4


def test_every_rebuild_of_a_run_trained_with_gamma_0_9_discounts_by_it(tmp_path):
    config = parse_config(FLAGS + ["--gamma", "0.9", "--run-dir", str(tmp_path / "run")])
    train(config)
    saved = read_run(os.path.join(config.run_dir, CHECKPOINT_FILE))
    assert "gamma" not in saved.agent_values and saved.config.gamma == 0.9
    env = make_env(saved.config, 2, torch.device("cpu"))
    # build.make_agent with the saved configs: how --resume, the viewer and the memory probe rebuild it
    assert make_agent(saved.config, env, saved.agent_values).gamma == 0.9
    assert load_agent(saved.payload, env).gamma == 0.9  # compare's evaluation
    env.close()


def test_a_checkpoint_whose_agent_config_has_the_old_gamma_field_loads_and_resumes(tmp_path):
    config = parse_config(FLAGS + ["--run-dir", str(tmp_path / "run")])
    train(config)
    path = os.path.join(config.run_dir, CHECKPOINT_FILE)
    payload = load_checkpoint(path)
    today = json.loads(payload["agent_config"])
    # As the checkpoint was written while the agent's config held the TD error's discount.
    payload["agent_config"] = json.dumps({**today, "gamma": 0.95})
    save_checkpoint(path, payload)
    saved = read_run(path)
    assert json.loads(json.dumps(dataclasses.asdict(saved.agent_config))) == today and saved.config.gamma == 0.99
    env = make_env(saved.config, 2, torch.device("cpu"))
    for agent in (make_agent(saved.config, env, saved.agent_values), load_agent(saved.payload, env)):
        assert agent.gamma == 0.95  # the TD error's discount it trained with, not the run's GAE one
        signal, expected = td_error(agent, env)
        torch.testing.assert_close(signal, expected)
    env.close()
    resumed = train(dataclasses.replace(saved.config, resume=config.run_dir, total_steps=256))
    assert resumed.global_step == 256


def test_agent_overrides_gamma_is_a_one_line_error_naming_the_gamma_flag(tmp_path):
    config = parse_config(FLAGS + ["--agent-overrides", "gamma", "0.95", "--run-dir", str(tmp_path / "never")])
    with pytest.raises(ConfigError) as info:
        train(config)
    message = str(info.value)
    assert "\n" not in message and "gamma=0.95" in message and "allowed: --gamma" in message
    assert not (tmp_path / "never").exists()
