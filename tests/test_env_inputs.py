"""Actions and PettingZoo (issue 37, part 4): NaN, out-of-range and meta-device actions get a one-line
error wherever they enter, and with `validate_actions=False` (no host read) any value is made safe on
the device as documented (`envs.actions.velocities`) and never corrupts the worlds. A step on a
finished PettingZoo episode raises until reset()."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs import multiberry_pettingzoo

RED, CUED, ARENA = (max(i for i in envs.ENV_IDS if i.startswith(f"{name}-v")) for name in
                    ("RedBerry", "CuedBerry", "MultiBerry"))  # the latest version of each
NAN = float("nan")


def _faces(action_type: str):
    """(face, env reset at seed 0, one step's good actions, the name its errors give them) for every way an
    action enters: the torch and numpy vector envs, MultiBerry's, gym.make's env and the PettingZoo env."""
    discrete = action_type == "discrete"
    good = (lambda n: np.zeros(n, np.int64)) if discrete else (lambda n: np.zeros((n, 2), np.float32))
    vector = gym.make_vec(RED, num_envs=3, action_type=action_type)
    numpy_face = envs.make_numpy_vec(RED, num_envs=3, action_type=action_type)
    arenas = gym.make_vec(ARENA, num_envs=2, num_agents=2, action_type=action_type)
    single = gym.make(RED, action_type=action_type)
    parallel = multiberry_pettingzoo.parallel_env(num_agents=2, action_type=action_type)
    for env in (vector, numpy_face, arenas, single, parallel):
        env.reset(seed=0)
    return [
        ("vector", vector, torch.as_tensor(good(3)), "actions"),
        ("numpy", numpy_face, good(3), "actions"),
        ("arenas", arenas, torch.as_tensor(good(4)), "actions"),
        ("single", single, good(1)[0], "action"),
        ("pettingzoo", parallel, {a: good(1)[0] for a in parallel.agents}, "action for forager_0"),
    ]


def _spoil(actions, bad):
    """A copy of ``actions`` with its first number replaced by ``bad``; with bad=META, all of it on the meta device."""
    if isinstance(actions, dict):
        first = next(iter(actions))
        return {**actions, first: _spoil(actions[first], bad)}
    if isinstance(bad, torch.Tensor):
        return torch.as_tensor(actions).to("meta")
    spoiled = actions.clone() if isinstance(actions, torch.Tensor) else np.array(actions)
    spoiled.reshape(-1)[0] = bad
    return spoiled


def _snapshot(env) -> dict[str, torch.Tensor]:
    """Every tensor of an env's worlds, whatever its face."""
    if isinstance(env, multiberry_pettingzoo.MultiBerryParallelEnv):
        return {k: v.clone() for k, v in env.state_.as_dict().items()}
    base = env.unwrapped
    return (base._world if isinstance(base, envs.BerryEnv) else base).get_state()


META = torch.empty(0, device="meta")
CASES = [  # action type, bad value, error, what the one line must say
    ("discrete", 5, ValueError, r"such as \[5\]; Discrete\(5\) allows integers in \[0, 4\]"),
    ("discrete", -1, ValueError, r"such as \[-1\]; Discrete\(5\) allows integers in \[0, 4\]"),
    ("discrete", META, TypeError, r"is a tensor on the meta device, which holds no values; Discrete\(5\) needs"),
    ("continuous", NAN, ValueError, r"such as \[nan\]; Box\(.*\) allows finite floats in \[-1.0, 1.0\] \(NaN is not"),
    ("continuous", np.inf, ValueError, r"such as \[inf\]; Box"),
    ("continuous", 1.5, ValueError, r"such as \[1.5\]; Box"),
    ("continuous", META, TypeError, r"is a tensor on the meta device, which holds no values; Box"),
]


@pytest.mark.parametrize("action_type, bad, error, words", CASES,
                         ids=[f"{t}-{'meta' if isinstance(b, torch.Tensor) else b}" for t, b, *_ in CASES])
def test_a_bad_action_is_one_line_wherever_it_enters_and_changes_nothing(action_type, bad, error, words):
    for face, env, actions, name in _faces(action_type):
        before = _snapshot(env)
        with pytest.raises(error) as caught:
            env.step(_spoil(actions, bad))
        message = str(caught.value)
        assert "\n" not in message and message.startswith(name) and re.search(words, message), (face, message)
        after = _snapshot(env)
        assert all(torch.equal(before[k], after[k]) for k in before), face
        env.step(actions)  # and the env goes on


def test_the_meta_device_is_refused_with_validation_off_too():
    env = gym.make_vec(RED, num_envs=2, validate_actions=False)
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"^actions is a tensor on the meta device, which holds no values; "):
        env.step(torch.zeros(2, dtype=torch.long, device="meta"))
    with pytest.raises(TypeError, match=r"^colour is a tensor on the meta device"):
        env.set_target(torch.zeros(2, dtype=torch.long, device="meta"))
    with pytest.raises(TypeError, match=r"^options\['reset_mask'\] is a tensor on the meta device"):
        env.reset(options={"reset_mask": torch.ones(2, dtype=torch.bool, device="meta")})
    env.step(torch.zeros(2, dtype=torch.long))


def _poses(env) -> torch.Tensor:
    return env.unwrapped.state.pose.clone()


def test_unchecked_discrete_actions_outside_the_table_stand_still():
    env = gym.make_vec(RED, num_envs=5, validate_actions=False, max_episode_steps=500)
    env.reset(seed=1)
    actions = torch.tensor([-1, 5, 2**40, -(2**40), 4])  # -1 was action 4, 5 an IndexError (a device assert on CUDA)
    for _ in range(3):
        before = _poses(env)
        env.step(actions)
        after = _poses(env)
        assert torch.equal(after[:4, :2], before[:4, :2])  # not moved
        torch.testing.assert_close(after[:4, 2], before[:4, 2])  # not turned (up to wrapping the angle)
        assert not torch.equal(after[4], before[4])  # forward-right, as asked
    env.step(torch.zeros(5, dtype=torch.long))  # and they go on
    assert not torch.equal(_poses(env)[:4, :2], after[:4, :2])


def test_unchecked_continuous_actions_are_made_safe_as_documented():
    """NaN counts as 0 and everything is clipped to [-1, 1]: the same trajectory, bit for bit, as the
    safe actions given outright, and every number in the state stays finite."""
    given = torch.tensor([[NAN, 0.5], [np.inf, -np.inf], [5.0, -7.0], [NAN, NAN], [0.3, -0.2]])
    safe = torch.tensor([[0.0, 0.5], [1.0, -1.0], [1.0, -1.0], [0.0, 0.0], [0.3, -0.2]])
    runs = []
    for actions in (given, safe):
        env = gym.make_vec(RED, num_envs=5, action_type="continuous", validate_actions=False, max_episode_steps=6)
        run = [env.reset(seed=2)[0]["image"]]
        for _ in range(12):  # through an episode end
            obs, reward, _, _, info = env.step(actions)
            run += [obs["image"], reward, info["forage"]["r"]]
        runs.append(run)
        assert all(torch.isfinite(v.float()).all() for v in env.unwrapped.state.as_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert torch.isfinite(given).sum() < given.numel()  # the given ones were not mended in place
    checked = gym.make_vec(RED, num_envs=5, action_type="continuous")
    checked.reset(seed=2)
    with pytest.raises(ValueError, match=r"^actions holds values out of range, such as \[nan, inf, -inf, 5.0\]"):
        checked.step(given)  # with validation on, the same actions are refused


def test_an_unchecked_colour_outside_the_allowed_ones_keeps_the_target():
    env = gym.make_vec(CUED, num_envs=4, validate_actions=False)
    env.reset(seed=0)
    old = env.unwrapped.state.target_colour.clone()
    obs = env.set_target(torch.tensor([7, 2, -1, 3]))
    new = env.unwrapped.state.target_colour
    assert torch.equal(new[[0, 2]], old[[0, 2]]) and new[1] == 2 and new[3] == 3
    assert torch.equal(obs["goal"].argmax(1), new)
    env.step(torch.zeros(4, dtype=torch.long))
    checked = gym.make_vec(CUED, num_envs=4)
    checked.reset(seed=0)
    with pytest.raises(ValueError, match=r"^colour holds \[7, -1\]; allowed: a palette index in \[0, 1, 2, 3, 4, 5\]"):
        checked.set_target(torch.tensor([7, 2, -1, 3]))


def test_a_step_on_a_finished_pettingzoo_episode_raises_until_reset():
    env = multiberry_pettingzoo.parallel_env(num_agents=2, max_episode_steps=3)
    env.reset(seed=0)
    while env.agents:
        env.step({a: 0 for a in env.agents})
    counter = env.state_.counter.clone()
    for _ in range(2):
        with pytest.raises(RuntimeError, match=r"^step\(\) was called after the episode ended \(env\.agents is "
                                               r"empty\); call reset\(\) to start the next one$"):
            env.step({})
    assert torch.equal(env.state_.counter, counter) and env.agents == []  # no episode was started behind its back
    env.reset()
    assert env.agents == ["forager_0", "forager_1"]
    env.step({a: 0 for a in env.agents})
