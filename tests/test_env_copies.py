"""Copies, threads and Gymnasium's own wrappers (issue 37, parts 2 and 3).

Every env kind, copied by pickle, cloudpickle (Ray's and SB3's subprocess envs) or deepcopy after a
few steps, steps bit for bit as the original under the same actions, through episode ends. A second
thread that steps an env while a step is under way is refused. Gymnasium's numpy wrappers run on the
numpy face and are refused, with a line naming it, around the torch env.
"""

from __future__ import annotations

import copy
import pickle
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import cloudpickle  # a dependency of gymnasium
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers.vector import ClipReward, DictInfoToList, NormalizeReward, RecordEpisodeStatistics

import envs
from envs import multiberry_pettingzoo

SINGLE_IDS = sorted(envs.TASK_IDS)
MULTI_IDS = sorted(envs.ENV_IDS - set(envs.TASK_IDS))
WORLD = dict(difficulty="medium", max_episode_steps=10)  # noise, foliage and light: every draw matters
ARENA = dict(num_agents=2, starvation_steps=6, max_episode_steps=12, difficulty="medium")  # deaths and ends

COPIES = {
    "pickle": lambda env: pickle.loads(pickle.dumps(env)),
    "cloudpickle": lambda env: cloudpickle.loads(cloudpickle.dumps(env)),
    "deepcopy": copy.deepcopy,
}


def _exact(value):
    """What an env returned, in a form that compares equal only when it is equal bit for bit (NaN too)."""
    if isinstance(value, dict):
        return {key: _exact(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return str(value.dtype), value.shape, value.tobytes()
    if isinstance(value, float):
        return struct.pack("<d", value)
    return value


def _choices(t: int, n: int) -> np.ndarray:
    return np.random.default_rng(t).integers(0, 5, n)


class Single:
    """gym.make: BerryEnv behind Gymnasium's wrappers, its TimeLimit cutting episodes at 10 steps."""

    def __init__(self, env_id):
        self.env = gym.make(env_id, max_episode_steps=10, difficulty="medium")
        self.first = self.env.reset(seed=5)

    def step(self, t):
        out = self.env.step(int(_choices(t, 1)[0]))
        return out + (self.env.reset() if out[2] or out[3] else (),)


class Vector:
    """gym.make_vec: the torch BerryVectorEnv, or with ``numpy`` its numpy face (`envs.make_numpy_vec`)."""

    def __init__(self, env_id, numpy=False):
        self.env = (envs.make_numpy_vec if numpy else gym.make_vec)(env_id, num_envs=3, **WORLD)
        self.numpy = numpy
        self.first = self.env.reset(seed=5)

    def step(self, t):
        actions = _choices(t, self.env.num_envs)
        return self.env.step(actions if self.numpy else torch.from_numpy(actions))


class Arenas(Vector):
    """gym.make_vec of MultiBerry: 2 arenas of 2 foragers that starve and respawn."""

    def __init__(self, env_id):
        self.env = gym.make_vec(env_id, num_envs=2, **ARENA)
        self.numpy = False
        self.first = self.env.reset(seed=5)


class Parallel:
    """The PettingZoo ParallelEnv of one arena, reset when every forager has died or time ran out."""

    def __init__(self):
        self.env = multiberry_pettingzoo.parallel_env(**ARENA)
        self.first = self.env.reset(seed=5)

    def step(self, t):
        out = self.env.step(dict(zip(self.env.agents, _choices(t, len(self.env.agents)).tolist())))
        return out + (self.env.reset() if not self.env.agents else (),)


class Aec:
    """The PettingZoo AEC form: one forager's turn per step."""

    def __init__(self):
        self.env = multiberry_pettingzoo.env(**ARENA)
        self.env.reset(seed=5)
        self.first = self.env.last()

    def step(self, t):
        obs, reward, terminated, truncated, info = self.env.last()
        self.env.step(None if terminated or truncated else int(_choices(t, 1)[0]))
        if not self.env.agents:
            self.env.reset()
        return self.env.agent_selection, obs, reward, terminated, truncated, info


class StableBaselines:
    """SB3's VecEnv over the torch vector env (it starts the next episode in the step that ends one)."""

    def __init__(self, env_id):
        self.env = envs.sb3_vec_env(env_id, num_envs=3, **WORLD)
        self.first = self.env.reset()

    def step(self, t):
        return self.env.step(_choices(t, 3))


KINDS = {  # the torch vector env of every id; the faces over it, each on one id
    **{f"vector-{i}": (lambda i=i: Vector(i)) for i in SINGLE_IDS},
    **{f"vector-{i}": (lambda i=i: Arenas(i)) for i in MULTI_IDS},
    "single": lambda: Single(SINGLE_IDS[-1]),
    "numpy": lambda: Vector(SINGLE_IDS[0], numpy=True),
    "pettingzoo-parallel": Parallel,
    "pettingzoo-aec": Aec,
    "sb3": lambda: StableBaselines(SINGLE_IDS[1]),
}


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_copied_env_steps_exactly_as_the_original(kind, how):
    if kind == "sb3":
        pytest.importorskip("stable_baselines3")
    original = KINDS[kind]()
    for t in range(3):
        original.step(t)
    twin = copy.copy(original)
    twin.env = COPIES[how](original.env)
    assert twin.env is not original.env
    for t in range(3, 33):  # through at least two episode ends
        ours, theirs = _exact(original.step(t)), _exact(twin.step(t))
        assert ours == theirs, f"step {t}: the {how} copy went its own way"


# -- threads --------------------------------------------------------------------------------------
def _held(env, inner: str):
    """Make env's ``inner`` method wait, once entered, until the returned `release` is set: a step or
    reset that is under way for as long as the test wants. Returns (entered, release) events."""
    entered, release = threading.Event(), threading.Event()
    method = getattr(env, inner)

    def waiting(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return method(*args, **kwargs)

    setattr(env, inner, waiting)
    return entered, release


@pytest.mark.parametrize("env_id", [SINGLE_IDS[0], MULTI_IDS[0]])
def test_a_second_thread_is_refused_while_a_vector_env_steps(env_id):
    env = gym.make_vec(env_id, num_envs=2, **({"num_agents": 2} if env_id in MULTI_IDS else {}))
    env.reset(seed=0)
    actions = torch.zeros(env.num_envs, dtype=torch.long)
    counter = env.unwrapped.state.counter.clone()
    entered, release = _held(env, "_advance")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(env.step, actions)
        assert entered.wait(10)
        name = type(env).__name__
        for call, args in (("step", (actions,)), ("reset", ()), ("set_target", (1,))):
            if not hasattr(env, call):
                continue
            with pytest.raises(RuntimeError, match=rf"^{name}\.{call}\(\) was called while another thread was in a "
                                                   r"step or reset of this env; .* use one env per thread$"):
                getattr(env, call)(*args)
        release.set()
        first.result(10)
    assert torch.equal(env.unwrapped.state.counter, counter + 1)  # the one step taken, none lost or doubled
    with pytest.raises(ValueError, match="actions"):
        env.step(actions + 9)  # a refused step frees the env too
    env.step(actions)
    assert torch.equal(env.unwrapped.state.counter, counter + 2)


def test_a_second_thread_is_refused_while_the_pettingzoo_env_steps():
    env = multiberry_pettingzoo.parallel_env(num_agents=2)
    env.reset(seed=0)
    entered, release = _held(env, "_observations")
    actions = {agent: 0 for agent in env.agents}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(env.step, actions)
        assert entered.wait(10)
        for call, args in (("step", (actions,)), ("reset", ())):
            with pytest.raises(RuntimeError, match=rf"^MultiBerryParallelEnv\.{call}\(\) was called while another "
                                                   r"thread .* one env per thread$"):
                getattr(env, call)(*args)
        release.set()
        observations = first.result(10)[0]
    assert sorted(observations) == env.agents == ["forager_0", "forager_1"]
    assert int(env.state_.counter[0]) == 2  # the reset and the one step
    env.step(actions)


def test_a_copy_of_an_env_has_its_own_lock():
    env = gym.make_vec(SINGLE_IDS[0], num_envs=2)
    env.reset(seed=0)
    with env.unwrapped._one_thread("step"):  # as if a step were under way while the env is copied
        twin = pickle.loads(pickle.dumps(env))
    twin.step(torch.zeros(2, dtype=torch.long))


# -- Gymnasium's own wrappers ------------------------------------------------------------------------
@pytest.mark.parametrize("wrap", [RecordEpisodeStatistics, NormalizeReward, DictInfoToList,
                                  lambda env: RecordEpisodeStatistics(ClipReward(env, -1, 1))],
                         ids=["RecordEpisodeStatistics", "NormalizeReward", "DictInfoToList", "stacked"])
def test_gymnasiums_numpy_wrappers_are_refused_around_the_torch_env_with_the_wrapper_to_use(wrap):
    env = gym.make_vec(SINGLE_IDS[0], num_envs=2, max_episode_steps=3)
    wrapped = wrap(env)
    name = type(wrapped).__name__
    expected = (rf"^{name} computes with numpy arrays and BerryVectorEnv returns torch tensors: wrap "
                rf"{name}\(envs\.NumpyVectorEnv\(env\)\) instead .* info\['forage'\] where info\['_forage'\]$")
    with pytest.raises(TypeError, match=expected):
        wrapped.reset(seed=0)
    env.reset(seed=0)  # wrapped after a reset: refused at the step
    with pytest.raises(TypeError, match=expected):
        wrapped.step(torch.zeros(2, dtype=torch.long))
    assert int(env.state.counter[0]) == 1  # nothing was stepped


def test_gymnasiums_tensor_wrappers_still_run_on_the_torch_env():
    env = ClipReward(gym.make_vec(SINGLE_IDS[0], num_envs=2, max_episode_steps=3), -0.5, 0.5)
    env.reset(seed=0)
    for _ in range(5):
        reward = env.step(torch.zeros(2, dtype=torch.long))[1]
    assert isinstance(reward, torch.Tensor)


@pytest.mark.parametrize("face", ["NumpyVectorEnv", "make_numpy_vec"])
def test_gymnasiums_numpy_wrappers_run_on_the_numpy_face_through_episode_ends(face):
    kwargs = dict(num_envs=4, max_episode_steps=5, num_berries=40)  # dense: most episodes eat something
    if face == "NumpyVectorEnv":
        inner = envs.NumpyVectorEnv(gym.make_vec(SINGLE_IDS[0], **kwargs))
    else:
        inner = envs.make_numpy_vec(SINGLE_IDS[0], **kwargs)
    env = NormalizeReward(RecordEpisodeStatistics(inner))
    env.reset(seed=0)
    ends = 0
    for t in range(17):  # episodes end at steps 5, 11 and 17 (next-step autoreset)
        _, reward, terminated, truncated, info = env.step(np.full(4, 3))
        assert np.isfinite(reward).all()
        if truncated.any():
            ends += 1
            assert truncated.all() and info["_episode"].all()
            np.testing.assert_array_equal(info["episode"]["l"], 5)
            np.testing.assert_array_equal(info["episode"]["r"], info["forage"]["r"])
    assert ends == 3 and env.env.return_queue  # RecordEpisodeStatistics kept them
    assert any(r != 0 for r in env.env.return_queue)
    listed = DictInfoToList(envs.make_numpy_vec(SINGLE_IDS[0], **kwargs))
    listed.reset(seed=0)
    assert len(listed.step(np.zeros(4, np.int64))[4]) == 4
