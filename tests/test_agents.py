"""Tests for agents/: the interface, each mechanism's behaviour, fairness and errors."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import LESIONS, PRESETS, AgentOutput, agent_from_config, make_agent, make_config
from agents.actor_critic import INPUT_LESIONS
from agents.vision import to_float_image
from agents.whatwhere import spatial_softmax_keypoints
from envs.config import PALETTE_NAMES, WorldConfig

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]
RECURRENT = [name for name in PRESETS if name != "feedforward"]

# State keys and internals keys each preset must have (and no others).
STATE_KEYS = {
    "feedforward": set(),
    "recurrent": {"h"},
    "early": {"h"},
    "feedback": {"h", "top"},
    "whatwhere": {"h"},
    "dopamine": {"h", "hebb", "eligibility", "prev_value"},
    "full": {"h", "top", "hebb", "eligibility", "prev_value"},
}
GAIN_KEYS = {"channel_gain/conv1", "channel_gain/conv2", "spatial_gain"}
INTERNAL_KEYS = {
    "feedforward": set(),
    "recurrent": set(),
    "early": set(),
    "feedback": GAIN_KEYS,
    "whatwhere": {"gates"},
    "dopamine": {"dopamine", "trace_norm"},
    "full": GAIN_KEYS | {"gates", "dopamine", "trace_norm"},
}


# Tiny batches: a second intra-op thread only adds synchronisation, which on a busy 2-core machine
# made this file ~15x slower (90 s instead of 6 s).
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")


def spaces(size: int = 24, palette: int = 6, continuous: bool = False):
    observation_space = gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            "goal": gym.spaces.Box(0.0, 1.0, (palette,), np.float32),
        }
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32) if continuous else gym.spaces.Discrete(5)
    return observation_space, action_space


def random_obs(n: int, size: int = 24, palette: int = 6, device="cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=generator)
    goal = torch.eye(palette)[torch.randint(0, palette, (n,), generator=generator)]
    return {"image": image.to(device), "goal": goal.to(device)}


def build(preset: str, device="cpu", size=24, palette=6, continuous=False, seed=0, **overrides):
    torch.manual_seed(seed)
    return make_agent(preset, *spaces(size, palette, continuous), **overrides).to(device)


def starts(n: int, value: bool, device="cpu") -> torch.Tensor:
    return torch.full((n,), value, dtype=torch.bool, device=device)


def run(agent, steps: int, n: int, device="cpu", size=24, palette=6, seed=0, state=None):
    """Steps the agent on random observations and rewards; returns the last output."""
    state = agent.initial_state(n, device) if state is None else state
    out = None
    for t in range(steps):
        obs = random_obs(n, size, palette, device, seed=seed + t)
        reward = torch.rand(n, generator=torch.Generator().manual_seed(seed + t)).to(device)
        out = agent(obs, state, starts(n, t == 0, device), reward)
        state = out.state
    return out


# -- interface -----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("size,palette", [(24, 6), (16, 2), (40, 6)])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_output_shapes_dtypes_and_keys(preset, size, palette, continuous, device):
    n = 3
    agent = build(preset, device, size, palette, continuous)
    state = agent.initial_state(n)
    assert set(state) == STATE_KEYS[preset]
    for value in state.values():
        assert value.shape[0] == n and value.device.type == device and value.dtype == torch.float32
    obs = random_obs(n, size, palette, device)
    out = agent(obs, state, starts(n, True, device), torch.zeros(n, device=device))
    assert isinstance(out, AgentOutput)
    action = out.dist.sample()
    if continuous:
        assert action.shape == (n, 2) and action.dtype == torch.float32
    else:
        assert action.shape == (n,) and action.dtype == torch.int64
        assert out.dist.logits.shape == (n, 5)  # one logit per action of Discrete(5)
    assert out.dist.log_prob(action).shape == (n,)
    assert out.dist.entropy().shape == (n,)
    assert out.value.shape == (n,) and out.value.dtype == torch.float32 and out.value.device.type == device
    assert list(out.state) == list(state)  # same keys, same order
    for key, value in out.state.items():
        assert value.shape == state[key].shape and value.dtype == state[key].dtype, key
    assert set(out.internals) == INTERNAL_KEYS[preset]
    shapes = {
        "channel_gain/conv1": (n, agent.config.channels[0]),
        "channel_gain/conv2": (n, agent.config.channels[1]),
        "spatial_gain": (n, -(-size // 2), -(-size // 2)),
        "gates": (n, 2),
        "dopamine": (n,),
        "trace_norm": (n,),
    }
    for key, value in out.internals.items():
        assert value.shape == shapes[key], key
        assert not value.requires_grad, key
    # A hidden goal (ReversalBerry's zeros) and no reward are accepted too.
    obs["goal"] = torch.zeros_like(obs["goal"])
    assert agent(obs, out.state, starts(n, False, device)).value.shape == (n,)


@pytest.mark.parametrize("modulator", ["td", "learned"])
def test_config_is_json_serialisable_and_round_trips(modulator):
    agent = build("full", passes=2, modulator=modulator, gamma=0.9)
    text = json.dumps(dataclasses.asdict(agent.config))
    assert "gamma" not in json.loads(text)  # the run's, not the architecture's: given again when rebuilt
    rebuilt = agent_from_config(json.loads(text), *spaces(), gamma=agent.gamma)
    assert rebuilt.config == agent.config and rebuilt.gamma == 0.9
    rebuilt.load_state_dict(agent.state_dict())
    torch.manual_seed(1)
    a = run(agent, 3, 4)
    b = run(rebuilt, 3, 4)
    torch.testing.assert_close(a.value, b.value, rtol=0, atol=0)
    torch.testing.assert_close(a.dist.logits, b.dist.logits, rtol=0, atol=0)
    for key in a.state:
        torch.testing.assert_close(a.state[key], b.state[key], rtol=0, atol=0)


def test_every_agent_uses_the_goal():
    obs = random_obs(2)
    other = dict(obs, goal=obs["goal"].roll(1, dims=1))
    for preset in PRESETS:
        agent = build(preset)
        state = agent.initial_state(2)
        a = agent(obs, state, starts(2, True))
        b = agent(other, state, starts(2, True))
        assert not torch.allclose(a.value, b.value), preset


# -- episode_start ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", RECURRENT)
def test_episode_start_resets_memory_and_traces(preset, device):
    n = 2
    agent = build(preset, device)
    used = run(agent, 4, n, device).state  # a state that has moved away from zero
    for key, value in used.items():
        assert value.abs().max() > 0, key
    obs = random_obs(n, device=device, seed=99)
    reward = torch.ones(n, device=device)
    episode_start = torch.tensor([True, False], device=device)
    reset = agent(obs, used, episode_start, reward)
    fresh = agent(obs, agent.initial_state(n, device), starts(n, True, device), torch.zeros(n, device=device))
    # Row 0 starts an episode: same as from a fresh state, whatever the old state and reward.
    torch.testing.assert_close(reset.value[0], fresh.value[0])
    torch.testing.assert_close(reset.dist.logits[0], fresh.dist.logits[0])
    for key in used:
        torch.testing.assert_close(reset.state[key][0], fresh.state[key][0], msg=key)
    # Row 1 continues: its memory matters.
    assert not torch.allclose(reset.value[1], fresh.value[1])


# -- feedback gain ------------------------------------------------------------------------------


def _layer1_input(agent, obs, state):
    """The input of conv layer 2 (= layer 1's output after any gain), captured by a hook."""
    seen = {}
    hook = agent.trunk.convs[1].register_forward_hook(lambda m, args, out: seen.update(x=args[0].detach()))
    try:
        out = agent(obs, state, starts(obs["goal"].shape[0], False, obs["goal"].device))
    finally:
        hook.remove()
    return seen["x"], out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", ["feedback", "full"])
def test_gain_changes_conv_activations_and_feedback_lesion_removes_it(preset, device):
    agent = build(preset, device)
    obs = random_obs(4, device=device)
    state = run(agent, 2, 4, device).state
    bottom_up = agent.trunk.layer(0, to_float_image(obs["image"])).detach()
    gained, out = _layer1_input(agent, obs, state)
    gain = out.internals["channel_gain/conv1"][:, :, None, None] * out.internals["spatial_gain"][:, None]
    torch.testing.assert_close(gained, bottom_up * gain)  # F' = F * g * s
    assert (gained - bottom_up).abs().max() > 1e-3

    agent.set_lesion("feedback")
    cut, out = _layer1_input(agent, obs, state)
    torch.testing.assert_close(cut, bottom_up, rtol=0, atol=0)
    for key in GAIN_KEYS:
        assert torch.all(out.internals[key] == 1), key
    if "gates" in out.internals:  # the feedback lesion leaves the what/where gates alone
        agent.set_lesion(None)
        torch.testing.assert_close(out.internals["gates"], agent(obs, state, starts(4, False, device)).internals["gates"])


@pytest.mark.parametrize("device", DEVICES)
def test_changing_only_the_goal_changes_channel_gains(device):
    agent = build("feedback", device)
    obs = random_obs(1, device=device)
    state = run(agent, 2, 1, device).state
    gains = []
    for colour in range(6):
        goal = torch.zeros(1, 6, device=device)
        goal[0, colour] = 1
        out = agent(dict(obs, goal=goal), state, starts(1, False, device))
        gains.append(out.internals["channel_gain/conv1"][0])
    for i in range(6):
        for j in range(i):
            assert (gains[i] - gains[j]).abs().max() > 1e-4, (i, j)


def test_goal_lesion_is_made_on_the_input_and_the_agent_refuses_it():
    # Only the world knows which wrong colour is present; the agent reads the goal it is given.
    agent = build("feedback")
    with pytest.raises(ValueError, match="goal.*obs\\['goal'\\].*wrong_goal"):
        agent.set_lesion("goal")
    assert agent.lesion is None


def test_previous_pass_top_features_drive_the_gains():
    # T=1: the gains come from the previous step's top features, carried in the state.
    agent = build("feedback")
    obs = random_obs(2)
    state = run(agent, 2, 2).state
    other = dict(state, top=state["top"] * 0.0)
    a = agent(obs, state, starts(2, False)).internals["channel_gain/conv1"]
    b = agent(obs, other, starts(2, False)).internals["channel_gain/conv1"]
    assert (a - b).abs().max() > 1e-4
    # T=2: pass 2 uses gains from pass 1, so the result differs from one pass.
    one = build("feedback", passes=1)
    two = build("feedback", passes=2)
    two.load_state_dict(one.state_dict())
    s1 = one(obs, state, starts(2, False)).internals["channel_gain/conv1"]
    s2 = two(obs, state, starts(2, False)).internals["channel_gain/conv1"]
    assert (s1 - s2).abs().max() > 1e-4


# -- what / where -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["whatwhere", "full"])
def test_gates_stay_in_unit_interval_and_follow_the_goal(preset):
    agent = build(preset)
    with torch.no_grad():  # saturate the gate: values must still stay in [0, 1]
        agent.top.gate.weight.mul_(1000.0)
    obs = random_obs(16)
    state = run(agent, 2, 16).state
    gates = agent(obs, state, starts(16, False)).internals["gates"]
    assert gates.min() >= 0.0 and gates.max() <= 1.0
    assert (gates == 0).any() or (gates == 1).any() or (gates < 1e-3).any() or (gates > 1 - 1e-3).any()
    other = agent(dict(obs, goal=obs["goal"].roll(1, dims=1)), state, starts(16, False)).internals["gates"]
    assert (gates - other).abs().max() > 1e-3


def test_closed_gates_block_their_stream():
    agent = build("whatwhere")
    with torch.no_grad():  # where-gate shut (sigmoid(-1e4) = 0), what-gate open
        agent.top.gate.weight.zero_()
        agent.top.gate.bias.copy_(torch.tensor([1e4, -1e4]))
    state = agent.initial_state(2)
    obs = random_obs(2)
    base = agent(obs, state, starts(2, True)).value
    with torch.no_grad():  # scrambling the where stream's weights changes nothing
        agent.top.where_conv.weight.normal_()
    torch.testing.assert_close(agent(obs, state, starts(2, True)).value, base)
    with torch.no_grad():
        agent.top.what_conv.weight.normal_()
    assert not torch.allclose(agent(obs, state, starts(2, True)).value, base)


@pytest.mark.parametrize("lesion, index", [("what", 0), ("where", 1)])
def test_what_and_where_lesions_hold_their_gate_at_zero_and_block_that_stream(lesion, index):
    agent = build("whatwhere")
    obs, state = random_obs(3), agent.initial_state(3)
    intact = agent(obs, state, starts(3, True))
    agent.set_lesion(lesion)
    out = agent(obs, state, starts(3, True))
    assert (out.internals["gates"][:, index] == 0).all()
    torch.testing.assert_close(out.internals["gates"][:, 1 - index], intact.internals["gates"][:, 1 - index])
    assert not torch.allclose(out.value, intact.value)
    stream = agent.top.what_conv if lesion == "what" else agent.top.where_conv
    with torch.no_grad():  # the held stream no longer reaches the output
        stream.weight.normal_()
    torch.testing.assert_close(agent(obs, state, starts(3, True)).value, out.value)


def test_where_stream_keypoints_locate_the_peak():
    logits = torch.zeros(1, 2, 6, 8)
    logits[0, 0, 1, 7] = 50.0  # channel 0 peaks at row 1, column 7 (right edge)
    logits[0, 1, 5, 0] = 50.0  # channel 1 peaks at row 5, column 0 (bottom-left corner)
    xy = spatial_softmax_keypoints(logits)[0]  # [x0, x1, y0, y1]
    torch.testing.assert_close(xy, torch.tensor([1.0, -1.0, -1.0 + 2.0 / 5.0, 1.0]), atol=1e-4, rtol=0)


# -- dopamine plasticity ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_plastic_traces_move_when_delta_nonzero_and_stay_when_zero(device):
    n = 3
    # The core blind to r(t-1), so that V(t) is too and a reward that makes delta 0 can be solved for.
    agent = build("dopamine", device, reward_input=False)
    gamma = agent.gamma
    obs0, obs1 = random_obs(n, device=device, seed=0), random_obs(n, device=device, seed=1)
    first = agent(obs0, agent.initial_state(n, device), starts(n, True, device), torch.zeros(n, device=device))
    assert torch.all(first.internals["dopamine"] == 0)  # no TD error on an episode's first step
    assert torch.all(first.state["hebb"] == 0) and first.state["eligibility"].abs().max() > 0
    reward = torch.tensor([1.0, -1.0, 0.5], device=device)
    moved = agent(obs1, first.state, starts(n, False, device), reward)
    # delta(t-1) = r(t-1) + gamma V(t) - V(t-1), with V(t) read before this step's write.
    torch.testing.assert_close(moved.internals["dopamine"], reward + gamma * moved.value - first.value)
    assert torch.all(moved.state["hebb"].flatten(1).abs().amax(1) > 0)
    assert torch.all(moved.internals["trace_norm"] > 0)
    # V(t) does not depend on r(t-1), the policy does (it acts after the write).
    still = agent(obs1, first.state, starts(n, False, device), first.value - gamma * moved.value)
    torch.testing.assert_close(still.value, moved.value)
    torch.testing.assert_close(still.internals["dopamine"], torch.zeros(n, device=device), atol=1e-6, rtol=0)
    torch.testing.assert_close(still.state["hebb"], first.state["hebb"], atol=1e-6, rtol=0)
    assert (still.state["eligibility"] - moved.state["eligibility"]).abs().max() > 1e-6  # y(t) differs


def test_td_error_carries_no_gradient_into_the_critic():
    # The policy after the write depends on the critic only through delta, which is detached.
    agent = build("dopamine")
    first = run(agent, 1, 2)
    out = agent(random_obs(2, seed=3), first.state, starts(2, False), torch.ones(2))
    assert out.internals["dopamine"].abs().max() > 0
    out.dist.logits.sum().backward()
    assert agent.critic.weight.grad is None or not agent.critic.weight.grad.any()
    assert agent.plastic.log_lambda.grad.abs() > 0  # while the write itself is differentiable


def test_plastic_update_follows_the_three_factor_rule():
    agent = build("dopamine", gamma=0.0)
    plastic = agent.plastic
    first = run(agent, 1, 2)
    reward = torch.tensor([0.7, -0.3])
    out = agent(random_obs(2, seed=5), first.state, starts(2, False), reward)
    delta = reward - first.value  # gamma = 0
    expected = torch.clamp(
        first.state["hebb"] + plastic.log_lambda.exp() * delta[:, None, None] * first.state["eligibility"],
        -agent.config.hebb_clip,
        agent.config.hebb_clip,
    )
    torch.testing.assert_close(out.state["hebb"], expected)
    big = agent(random_obs(2, seed=5), first.state, starts(2, False), torch.tensor([1e6, -1e6]))
    assert big.state["hebb"].abs().max() <= agent.config.hebb_clip


def test_plasticity_lesion_freezes_the_trace():
    agent = build("dopamine")
    agent.set_lesion("plasticity")
    out = run(agent, 4, 2)
    assert torch.all(out.state["hebb"] == 0) and torch.all(out.internals["trace_norm"] == 0)
    assert out.internals["dopamine"].abs().max() > 0  # the TD error is still computed


def test_learned_modulator_writes_the_trace():
    agent = build("dopamine", modulator="learned")
    out = run(agent, 3, 2)
    assert out.internals["dopamine"].abs().max() > 0
    assert out.internals["dopamine"].abs().max() <= 1.0  # tanh
    assert out.state["hebb"].abs().max() > 0


def td_errors(agent, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(the dopamine signal of a second step, what delta(t-1) = r(t-1) + gamma V(t) - V(t-1) says it is)."""
    first = agent(random_obs(2, seed=seed), agent.initial_state(2), starts(2, True), torch.zeros(2))
    reward = torch.tensor([0.7, -0.3])
    out = agent(random_obs(2, seed=seed + 1), first.state, starts(2, False), reward)
    return out.internals["dopamine"], reward + agent.gamma * out.value - first.value


def test_the_td_error_discounts_by_the_gamma_the_agent_is_given():
    signals = {}
    for gamma in (0.9, 0.99):
        agent = build("dopamine", gamma=gamma)  # the same weights (seed 0): only the discount differs
        assert agent.gamma == agent.plastic.gamma == gamma and "gamma" not in dataclasses.asdict(agent.config)
        signals[gamma], expected = td_errors(agent)
        torch.testing.assert_close(signals[gamma], expected)
    assert (signals[0.9] - signals[0.99]).abs().min() > 1e-4


def test_an_agent_config_with_the_old_gamma_field_loads_and_its_td_error_keeps_that_gamma():
    # As a checkpoint saved while AgentConfig held gamma wrote it; that field is what its TD error used.
    torch.manual_seed(0)
    trained = make_agent("dopamine", *spaces(), gamma=0.9)
    old = {**dataclasses.asdict(trained.config), "gamma": 0.9}
    for given in (None, 0.9, 0.99):
        rebuilt = agent_from_config(json.loads(json.dumps(old)), *spaces(), gamma=given)
        rebuilt.load_state_dict(trained.state_dict())
        assert rebuilt.config == trained.config and rebuilt.gamma == 0.9
        torch.testing.assert_close(td_errors(rebuilt)[0], td_errors(trained)[0], rtol=0, atol=0)


def test_gamma_is_the_agents_argument_not_a_config_field():
    with pytest.raises(ValueError, match=r"gamma.*must be a number in \[0, 1\], got 1.5"):
        make_agent("dopamine", *spaces(), gamma=1.5)
    with pytest.raises(ValueError, match=r"gamma=0.9 is not an AgentConfig field.*make_agent\(\.\.\., gamma=\.\.\.\)"):
        make_config("dopamine", gamma=0.9)
    saved = dataclasses.asdict(make_agent("dopamine", *spaces()).config)  # today's: no gamma field
    with pytest.raises(ValueError, match="gamma: got None.*allowed: the run's discount"):
        agent_from_config(saved, *spaces())


# -- training signal ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "preset,overrides,continuous",
    [(name, {}, False) for name in PRESETS]
    + [("full", {"passes": 2, "modulator": "learned"}, True), ("feedback", {"core": "none"}, False)],
)
def test_gradients_reach_every_parameter_through_bptt(preset, overrides, continuous, device):
    n, steps = 4, 4
    agent = build(preset, device, continuous=continuous, **overrides)
    state = agent.initial_state(n, device)
    loss = 0.0
    for t in range(steps):
        obs = random_obs(n, device=device, seed=t)
        out = agent(obs, state, starts(n, t == 0, device), torch.randn(n, device=device))
        loss = loss + out.value.sum() + out.dist.log_prob(out.dist.sample()).sum() + out.dist.entropy().sum()
        state = out.state
    loss.backward()
    missing = [name for name, p in agent.named_parameters() if p.grad is None or not p.grad.abs().max() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_gradient_flows_back_through_time():
    agent = build("full")
    state = {k: v.requires_grad_() for k, v in agent.initial_state(2).items()}
    out = agent(random_obs(2), state, starts(2, False), torch.ones(2))
    for t in range(1, 4):
        out = agent(random_obs(2, seed=t), out.state, starts(2, False), torch.ones(2))
    out.value.sum().backward()
    for key in ("h", "top", "eligibility"):
        assert state[key].grad.abs().max() > 0, key


# -- fairness, errors ----------------------------------------------------------------------------


def test_parameter_counts_within_ten_percent():
    counts = {name: make_agent(name, *spaces()).num_parameters() for name in PRESETS}
    assert max(counts.values()) <= 1.10 * min(counts.values()), counts
    assert all(50_000 <= c <= 150_000 for c in counts.values()), counts
    assert counts["feedforward"] == sum(p.numel() for p in make_agent("feedforward", *spaces()).parameters())


def test_each_preset_adds_its_mechanism():
    configs = {name: PRESETS[name] for name in PRESETS}
    assert configs["feedforward"].core == "none"
    assert all(configs[name].core == "gru" for name in RECURRENT)
    flags = {name: (c.goal_pathway, c.whatwhere, c.plastic) for name, c in configs.items()}
    assert flags == {
        "feedforward": ("late", False, False),
        "recurrent": ("late", False, False),
        "early": ("early", False, False),
        "feedback": ("topdown", False, False),
        "whatwhere": ("late", True, False),
        "dopamine": ("late", False, True),
        "full": ("topdown", True, True),
    }
    assert [c.feedback for c in configs.values()] == [c.goal_pathway == "topdown" for c in configs.values()]


def test_bad_names_raise_errors_that_list_the_valid_ones():
    with pytest.raises(ValueError, match="feedforward.*recurrent|recurrent.*feedforward") as info:
        make_agent("lstm", *spaces())
    assert "preset" in str(info.value) and "whatwhere" in str(info.value)
    with pytest.raises(ValueError, match="passes") as info:
        make_agent("feedback", *spaces(), pases=2)
    assert "pases" in str(info.value)
    with pytest.raises(ValueError, match="core"):
        make_agent("recurrent", *spaces(), core="lstm")
    with pytest.raises(ValueError, match="modulator"):
        make_agent("dopamine", *spaces(), modulator="serotonin")
    with pytest.raises(ValueError, match="passes"):
        make_agent("recurrent", *spaces(), passes=2)  # passes without feedback would do nothing
    with pytest.raises(ValueError, match="embed"):
        make_agent("feedforward", *spaces(), embed=0)
    with pytest.raises(ValueError, match=r"'hebb_clipp'.*valid.*'hebb_clip'"):  # the typo, then the field it misses
        agent_from_config({"hebb_clipp": 1.0}, *spaces(), gamma=0.99)
    agent = make_agent("recurrent", *spaces())
    with pytest.raises(ValueError, match="plasticity") as info:
        agent.set_lesion("dopamine")
    assert "feedback" in str(info.value) and "what" in str(info.value)
    for lesion in LESIONS:  # a lesion on an agent without the mechanism is allowed
        if lesion not in INPUT_LESIONS:
            agent.set_lesion(lesion)


def test_bad_spaces_raise_errors_that_name_the_parameter():
    observation_space, action_space = spaces()
    with pytest.raises(TypeError, match="observation_space"):
        make_agent("feedforward", observation_space["image"], action_space)
    with pytest.raises(TypeError, match="action_space"):
        make_agent("feedforward", observation_space, gym.spaces.MultiDiscrete([2, 2]))
    bad_image = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 1, (24, 24, 3), np.float32), "goal": observation_space["goal"]}
    )
    with pytest.raises(ValueError, match=r"observation_space\['image'\]"):
        make_agent("feedforward", bad_image, action_space)
    with pytest.raises(ValueError, match="observation_space"):
        make_agent("feedforward", gym.spaces.Dict({"image": observation_space["image"]}), action_space)


def trunk_passes_per_step(agent) -> int:
    """How many times one forward step runs the conv trunk (T, for agents with feedback)."""
    calls = []
    handle = agent.trunk.register_forward_hook(lambda *_: calls.append(1))
    try:
        agent(random_obs(2), agent.initial_state(2), starts(2, True), torch.zeros(2))
    finally:
        handle.remove()
    return len(calls)


def test_overrides_change_the_agent_built_and_not_the_next_one():
    assert trunk_passes_per_step(make_agent("feedback", *spaces(), passes=3)) == 3
    assert trunk_passes_per_step(make_agent("feedback", *spaces())) == 1  # the preset's T is untouched
    assert PRESETS["feedback"].passes == 1


def test_probe_labels_a_channel_by_the_berry_colour_it_answers_and_leaves_close_calls_unlabelled():
    from agents.probe import preferred_colours

    agent = build("feedback")
    conv1 = agent.trunk.convs[0]
    with torch.no_grad():
        conv1.weight.zero_()
        conv1.bias.zero_()
        conv1.weight[0, :, 1, 1] = torch.tensor([1.0, -1.0, -1.0])  # R - G - B: red (160) far above orange (85)
        conv1.weight[1, :, 1, 1] = torch.tensor([-1.0, 0.0, 1.0])  # B - R: blue (180) and cyan (175) within 10%
    labels = preferred_colours(agent, WorldConfig())["channel_gain/conv1"]
    assert labels[0] == PALETTE_NAMES.index("red")
    assert labels[1] is None  # no measurable preference between blue and cyan
    assert labels[2:] == [None] * (len(labels) - 2)  # silent channels answer no berry
    assert preferred_colours(build("recurrent"), WorldConfig()) == {}  # no gains, nothing to label
