"""Stable-Baselines3 and SuperSuit on our envs, as the README shows them: a few PPO updates on the
single env, through the batched adapter (envs/sb3.py) and on MultiBerry through SuperSuit, and the
adapter's conversion of next-step autoreset to SB3's convention. Skipped without the [sb3] extra."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs

pytest.importorskip("stable_baselines3")
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_checker import check_env  # noqa: E402

SB3_VIEW = 36  # the smallest image SB3's NatureCNN takes
TINY_PPO = dict(n_steps=16, batch_size=64, n_epochs=1, device="cpu")  # two rollouts = two updates


def test_import_envs_does_not_import_sb3():
    code = "import sys, envs; assert 'stable_baselines3' not in sys.modules and 'envs.sb3' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ppo_updates_on_the_single_env_and_sb3_check_env_passes():
    env = gym.make("RedBerry-v1", view_size=SB3_VIEW)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []  # at 24 x 24 it warns that NatureCNN needs 36 x 36
    model = PPO("MultiInputPolicy", env, seed=0, **{**TINY_PPO, "batch_size": 16})
    model.learn(total_timesteps=32)
    assert model.num_timesteps == 32


@pytest.mark.parametrize("env_id, kwargs", [
    ("RedBerry-v1", dict(num_envs=4)),
    ("MultiBerry-v1", dict(num_envs=2, num_agents=2, starvation_steps=6)),  # slots end at different steps
])
def test_ppo_updates_through_the_adapter_and_logs_episode_returns(env_id, kwargs):
    venv = envs.sb3_vec_env(env_id, view_size=SB3_VIEW, max_episode_steps=12, **kwargs)
    model = PPO("MultiInputPolicy", venv, seed=0, **TINY_PPO)
    model.learn(total_timesteps=2 * TINY_PPO["n_steps"] * venv.num_envs)
    assert model.num_timesteps == 2 * TINY_PPO["n_steps"] * venv.num_envs
    assert len(model.ep_info_buffer) > 0 and all(info["l"] <= 12 for info in model.ep_info_buffer)


@pytest.mark.filterwarnings("ignore:The `render_mode` attribute is not defined")  # SuperSuit's VecEnv has none
def test_ppo_updates_on_multiberry_through_supersuit():
    ss = pytest.importorskip("supersuit")
    from envs import multiberry_pettingzoo as multiberry

    par = multiberry.parallel_env(num_agents=2, view_size=SB3_VIEW, max_episode_steps=12)
    venv = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(par), 2, num_cpus=0, base_class="stable_baselines3")
    model = PPO("MultiInputPolicy", venv, **TINY_PPO)  # no seed=: SuperSuit's ConcatVecEnv has no seed()
    model.learn(total_timesteps=2 * TINY_PPO["n_steps"] * venv.num_envs)
    assert model.num_timesteps == 2 * TINY_PPO["n_steps"] * 4


def _random_actions(steps, n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 5, (n,), generator=generator).numpy() for _ in range(steps)]


def test_adapter_follows_the_next_step_trajectory_without_its_ignored_steps():
    """SB3's convention: where an episode ends, step_wait returns the next episode's first observation,
    with the final one in infos[i]["terminal_observation"] and TimeLimit.truncated set; the worlds go
    on exactly as under NEXT_STEP, less the autoreset steps whose action was ignored."""
    n, limit = 3, 5
    venv = envs.sb3_vec_env("CuedBerry-v1", num_envs=n, max_episode_steps=limit)
    ref = gym.make_vec("CuedBerry-v1", num_envs=n, max_episode_steps=limit)  # NEXT_STEP, the same worlds
    venv.seed(7)
    obs = venv.reset()
    ref_obs, _ = ref.reset(seed=7)
    np.testing.assert_array_equal(obs["image"], ref_obs["image"].numpy())
    episode_return = np.zeros(n)
    for t, action in enumerate(_random_actions(3 * limit + 1, n)):
        obs, rewards, dones, infos = venv.step(action)
        ref_obs, ref_reward, _, ref_truncated, _ = ref.step(torch.as_tensor(action))
        np.testing.assert_array_equal(rewards, ref_reward.numpy())
        episode_return += rewards
        ended = (t + 1) % limit == 0
        assert (dones == ended).all() and (ref_truncated.numpy() == ended).all()
        if not ended:
            assert infos == [{}] * n
            np.testing.assert_array_equal(obs["image"], ref_obs["image"].numpy())
            continue
        for i in range(n):
            final = infos[i]["terminal_observation"]
            np.testing.assert_array_equal(final["image"], ref_obs["image"][i].numpy())
            np.testing.assert_array_equal(final["goal"], ref_obs["goal"][i].numpy())
            assert infos[i]["TimeLimit.truncated"] is True
            assert infos[i]["episode"] == {"r": pytest.approx(episode_return[i]), "l": limit}
        episode_return[:] = 0
        first, reward, _, _, _ = ref.step(torch.zeros(n, dtype=torch.int64))  # NEXT_STEP's autoreset step
        assert (reward == 0).all()
        np.testing.assert_array_equal(obs["image"], first["image"].numpy())  # the new episode's first view
        np.testing.assert_array_equal(obs["goal"], first["goal"].numpy())


def test_adapter_ends_one_multiberry_slot_alone():
    """A starved forager is terminated (not truncated), its slot alone restarts, the others go on."""
    venv = envs.sb3_vec_env("MultiBerry-v1", num_envs=1, num_agents=2, starvation_steps=3)
    ref = gym.make_vec("MultiBerry-v1", num_envs=1, num_agents=2, starvation_steps=3)
    venv.seed(1)
    venv.reset()
    ref.reset(seed=1)
    for t, action in enumerate(_random_actions(3, 2)):
        if t == 1:  # forager 0 respawns after one step, so it starves a step after forager 1
            venv.env.reset(options={"reset_mask": np.array([True, False])})
            ref.reset(options={"reset_mask": np.array([True, False])})
        obs, _, dones, infos = venv.step(action)
        ref_obs, _, ref_terminated, _, _ = ref.step(torch.as_tensor(action))
    assert dones.tolist() == [False, True] and ref_terminated.tolist() == [False, True]
    assert infos[0] == {} and infos[1]["TimeLimit.truncated"] is False and infos[1]["episode"]["l"] == 3
    np.testing.assert_array_equal(infos[1]["terminal_observation"]["image"], ref_obs["image"][1].numpy())
    state, ref_state = venv.env.state, ref.state
    for name in ("berry_pos", "berry_timer", "counter", "arena_step"):  # the arena goes on untouched
        assert torch.equal(getattr(state, name), getattr(ref_state, name)), name
    assert torch.equal(state.pose[0, 0], ref_state.pose[0, 0])  # and so does forager 0 (its view shows 1's new pose)
    assert state.alive.all() and state.episode_step[0, 1] == 0 and not ref_state.alive[0, 1]


def test_adapter_checks_the_env_indices_sb3_passes_it():
    venv = envs.sb3_vec_env("RedBerry-v1", num_envs=3)
    assert venv.get_attr("render_mode", [0, 2]) == [None, None] and len(venv.env_method("target_mask", indices=-1)) == 1
    for indices in ([3], 7, [-4], [0.5]):
        with pytest.raises(IndexError, match=r"allowed: env indices from 0 to 2"):
            venv.get_attr("render_mode", indices)
    with pytest.raises(IndexError):
        venv.set_attr("copy", True, [5])
    venv.seed(-1)  # SB3's seed s gives env i the seed s + i; a negative one is refused at the reset that uses it
    with pytest.raises(TypeError, match=r"seed=-1; allowed: an integer >= 0"):
        venv.reset()
    venv.close()


@pytest.mark.filterwarnings("error:The `render_mode` attribute")
def test_ppo_learns_at_the_default_view_with_the_shipped_extractor():
    """The worlds' own 24x24 view, where SB3's NatureCNN does not fit: envs.sb3_policy_kwargs() gives
    MultiInputPolicy a small-image extractor, through the adapter and on the single env alike."""
    venv = envs.sb3_vec_env("CuedBerry-v1", num_envs=4, max_episode_steps=12)
    assert venv.observation_space["image"].shape == (24, 24, 3) and venv.render_mode is None
    with pytest.raises(Exception):  # the recipe this replaces: the stock CNN at 24x24
        PPO("MultiInputPolicy", venv, seed=0, **TINY_PPO)
    model = PPO("MultiInputPolicy", venv, seed=0, policy_kwargs=envs.sb3_policy_kwargs(), **TINY_PPO)
    extractor = model.policy.features_extractor
    assert type(extractor).__name__ == "SmallImageExtractor" and extractor.features_dim == 128 + 6
    before = [p.detach().clone() for p in extractor.parameters()]
    model.learn(total_timesteps=2 * TINY_PPO["n_steps"] * venv.num_envs)
    assert any(not torch.equal(a, b) for a, b in zip(before, extractor.parameters()))  # it was trained
    single = PPO("MultiInputPolicy", gym.make("RedBerry-v1", max_episode_steps=12), seed=0,
                 policy_kwargs=envs.sb3_policy_kwargs(64), **{**TINY_PPO, "batch_size": 16})
    single.learn(total_timesteps=TINY_PPO["n_steps"])
    action, _ = single.predict(single.get_env().reset(), deterministic=True)
    assert action.shape == (1,) and 0 <= int(action[0]) < 5
