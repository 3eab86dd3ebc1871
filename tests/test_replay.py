"""PPO's replay: the batched replay (encode over T x B, step through time) equals the sequential one,
and both reproduce what the agent computed while collecting, for every preset."""

from __future__ import annotations

import pytest
import torch

import agents
from agents.ppo import Rollout, evaluate_actions
from agents.runner import Carry
from training.build import action_example, compile_agent, make_env
from training.loop import collect
from training.config import Config

STEPS, WORLDS = 12, 6
# (preset, agent overrides, action type): every preset, plus the variants whose step differs
VARIANTS = [(p, {}, "discrete") for p in agents.PRESETS] + [
    ("feedback", {"passes": 2}, "discrete"),
    ("feedback", {}, "continuous"),
    ("dopamine", {"modulator": "learned"}, "discrete"),
    ("full", {"passes": 2}, "continuous"),
]


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Tiny batches: one torch thread (conftest.py)."""


def real_rollout(preset: str, overrides: dict, action_type: str, seed: int = 0):
    """A real rollout of CuedBerry worlds whose 5-step episodes end (and restart) inside it."""
    config = Config(env="CuedBerry-v1", agent=preset, agent_overrides=overrides, device="cpu",
                    max_episode_steps=5, action_type=action_type)
    env = make_env(config, WORLDS, torch.device("cpu"))
    torch.manual_seed(seed)
    agent = agents.make_agent(preset, env.single_observation_space, env.single_action_space, **overrides)
    obs = env.reset(seed=seed)[0]
    carry = Carry.start(agent, WORLDS, "cpu")
    example = action_example(env, torch.device("cpu"))
    # The trainer's own collection (training.loop.collect): a few steps first, so that the rollout
    # starts from a non-zero state, then the rollout.
    obs, carry, _ = collect(agent, env, obs, carry, Rollout.allocate(3, obs, example))
    rollout = Rollout.allocate(STEPS, obs, example)
    collect(agent, env, obs, carry, rollout)
    env.close()
    assert rollout.episode_start[1:].any(), "no episode started inside the rollout"
    return agent, rollout


def replay_with_gradients(agent, rollout, index, batched: bool):
    agent.zero_grad(set_to_none=True)
    logprob, entropy, value = evaluate_actions(agent, rollout, index, recurrent=bool(rollout.initial_state),
                                               batched=batched)
    # A loss that weighs every output differently, so that a gradient cannot cancel by symmetry.
    weights = torch.linspace(0.5, 1.5, logprob.numel()).reshape(logprob.shape)
    (weights * (logprob + 0.1 * entropy + value ** 2)).sum().backward()
    grads = {name: p.grad.clone() for name, p in agent.named_parameters() if p.grad is not None}
    return logprob.detach(), entropy.detach(), value.detach(), grads


@pytest.mark.parametrize("preset, overrides, action_type", VARIANTS,
                         ids=[f"{p}-{'-'.join(f'{k}{v}' for k, v in o.items()) or 'plain'}-{a}" for p, o, a in VARIANTS])
def test_batched_replay_equals_sequential_replay_and_the_collection(preset, overrides, action_type):
    agent, rollout = real_rollout(preset, overrides, action_type)
    recurrent = bool(rollout.initial_state)
    # a minibatch of worlds (recurrent) or of samples (stateless), in a shuffled order
    index = torch.tensor([4, 1, 3]) if recurrent else torch.randperm(STEPS * WORLDS)[:20]
    batched = replay_with_gradients(agent, rollout, index, batched=True)
    sequential = replay_with_gradients(agent, rollout, index, batched=False)
    for name, b, s in zip(("log-probs", "entropies", "values"), batched[:3], sequential[:3]):
        torch.testing.assert_close(b, s, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {m}")
    assert batched[3].keys() == sequential[3].keys()
    assert len(batched[3]) == len([p for p in agent.parameters()]), "some parameter got no gradient"
    for name in batched[3]:
        torch.testing.assert_close(batched[3][name], sequential[3][name], rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"gradient of {name}: {m}")
    # the replay reproduces what the agent computed while it collected the rollout
    if recurrent:
        collected_logprob, collected_value = rollout.logprobs[:, index], rollout.values[:, index]
    else:
        collected_logprob = rollout.logprobs.reshape(-1)[index]
        collected_value = rollout.values.reshape(-1)[index]
    torch.testing.assert_close(batched[0], collected_logprob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched[2], collected_value, rtol=1e-5, atol=1e-5)


def test_the_batched_replay_runs_the_bottom_up_trunk_once_per_minibatch():
    """The point of batching: conv1 runs once over all T x B frames, not once per step."""
    agent, rollout = real_rollout("recurrent", {}, "discrete")
    calls = []
    handle = agent.trunk.convs[0].register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        evaluate_actions(agent, rollout, torch.tensor([0, 2]), recurrent=True, batched=True)
        assert calls == [STEPS * 2]
        calls.clear()
        evaluate_actions(agent, rollout, torch.tensor([0, 2]), recurrent=True, batched=False)
        assert calls == [2] * STEPS
    finally:
        handle.remove()


@pytest.mark.parametrize("preset", ["feedback", "dopamine"])
def test_the_batched_replay_runs_the_heads_once_per_minibatch(preset):
    """Nothing in the actor (nor, without the plastic layer, the critic) depends on the state: the batched
    replay runs it once over all T x B steps, the sequential one once per step."""
    agent, rollout = real_rollout(preset, {}, "discrete")
    calls = {"actor": [], "critic": []}
    handles = [getattr(agent, name).register_forward_hook(lambda m, args, out, name=name: calls[name].append(
        args[0].shape[0])) for name in calls]
    try:
        evaluate_actions(agent, rollout, torch.tensor([0, 2]), recurrent=True, batched=True)
        # the plastic layer's step reads V(t) itself (its TD error), so its critic runs per step
        assert calls == {"actor": [STEPS * 2], "critic": [2] * STEPS if preset == "dopamine" else [STEPS * 2]}
        calls = {"actor": [], "critic": []}
        evaluate_actions(agent, rollout, torch.tensor([0, 2]), recurrent=True, batched=False)
        assert calls == {"actor": [2] * STEPS, "critic": [2] * STEPS}
    finally:
        for handle in handles:
            handle.remove()


def test_the_compiled_agent_equals_the_eager_one():
    """--compile: the same log-probs, values and gradients through torch.compile (inductor) as eagerly."""
    agent, rollout = real_rollout("full", {}, "discrete")
    index = torch.tensor([4, 1, 3])
    eager = replay_with_gradients(agent, rollout, index, batched=True)
    compile_agent(agent)
    compiled = replay_with_gradients(agent, rollout, index, batched=True)
    assert not any(getattr(agent, name).failed for name in ("encode", "advance", "heads")), \
        "torch.compile fell back to eager"
    for name, c, e in zip(("log-probs", "entropies", "values"), compiled[:3], eager[:3]):
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
    for name in eager[3]:
        torch.testing.assert_close(compiled[3][name], eager[3][name], rtol=1e-3, atol=1e-5,
                                   msg=lambda m: f"gradient of {name}: {m}")


def test_compile_falls_back_to_eager_with_a_warning_where_the_compiler_fails(monkeypatch):
    """A machine whose C++ compiler inductor cannot run still trains: the real compile fails, the step
    warns once and runs eagerly, with the eager results."""
    from torch._inductor import config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/c++",))
    torch._dynamo.reset()
    agent, rollout = real_rollout("recurrent", {}, "discrete")
    index = torch.tensor([0, 5])
    eager = replay_with_gradients(agent, rollout, index, batched=True)
    compile_agent(agent)
    with pytest.warns(RuntimeWarning, match="--compile: torch.compile of the agent's"):
        fallback = replay_with_gradients(agent, rollout, index, batched=True)
    assert agent.encode.failed
    for e, f in zip(eager[:3], fallback[:3]):
        torch.testing.assert_close(f, e, rtol=0, atol=0)
    torch._dynamo.reset()
