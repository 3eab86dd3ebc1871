"""MultiBerry: PettingZoo's own checkers, removal on termination, determinism, batch invariance."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test

import envs
from envs import multiberry_pettingzoo as multiberry
from envs.config import FORAGER_RGB


def test_parallel_api_test():
    parallel_api_test(multiberry.parallel_env(max_episode_steps=120), num_cycles=200)


def test_parallel_seed_test():
    parallel_seed_test(lambda: multiberry.parallel_env(max_episode_steps=40, target_mode="own"), num_cycles=40)


def test_aec_api_test():
    api_test(multiberry.env(max_episode_steps=60), num_cycles=60)


def test_render_test_human_and_rgb_array():
    render_test(lambda render_mode=None: multiberry.env(render_mode=render_mode))


def test_starved_agents_are_removed():
    par = multiberry.parallel_env(starvation_steps=4, num_agents=3)
    par.reset(seed=0)
    par.state_.berry_timer[0] = 100  # no berries: nobody can eat
    removed_at = None
    for t in range(10):
        if not par.agents:
            break
        _, _, terms, truncs, infos = par.step({a: 1 for a in par.agents})  # spin on the spot: never fed
        if any(terms.values()):
            removed_at = t
            assert all(terms.values()) and not any(truncs.values())
            assert all("forage" in infos[a] for a in terms)
    assert removed_at == 3 and par.agents == []


def test_truncation_removes_everyone_and_reset_brings_them_back():
    par = multiberry.parallel_env(max_episode_steps=3)
    par.reset(seed=1)
    for _ in range(3):
        _, _, terms, truncs, _ = par.step({a: 0 for a in par.agents})
    assert all(truncs.values()) and not any(terms.values()) and par.agents == []
    obs, _ = par.reset()
    assert set(obs) == set(par.possible_agents) == set(par.agents)


@pytest.mark.parametrize("bad,error,name", [
    ({"forager_0": 0, "forager_1": 0, "forager_2": 0, "forager_3": 0, "forager_9": 0}, ValueError, "forager_9"),
    ({"forager_0": 0, "forager_1": 0, "forager_3": 0}, ValueError, "forager_2"),
    ({"forager_0": 0.5, "forager_1": 0, "forager_2": 0, "forager_3": 0}, TypeError, "forager_0"),
    ({"forager_0": 0, "forager_1": 7, "forager_2": 0, "forager_3": 0}, ValueError, "forager_1"),
])
def test_bad_actions_name_the_agent(bad, error, name):
    par = multiberry.parallel_env()
    par.reset(seed=0)
    with pytest.raises(error, match=name):
        par.step(bad)


def test_actions_for_dead_agents_are_refused():
    par = multiberry.parallel_env(starvation_steps=2, num_agents=2)
    par.reset(seed=0)
    par.state_.berry_timer[0] = 100
    par.step({a: 1 for a in par.agents})
    par.step({a: 1 for a in par.agents})
    assert par.agents == []
    with pytest.raises(ValueError, match="not alive.*forager_0"):
        par.step({"forager_0": 0})


def test_a_forager_sees_the_others():
    par = multiberry.parallel_env(num_agents=2)
    par.reset(seed=0)
    s = par.state_
    s.pose[0, 0] = torch.tensor([2.0, 2.0, 0.0])
    s.pose[0, 1] = torch.tensor([4.0, 2.0, 0.0])  # two units straight ahead of forager 0
    s.berry_timer[0] = 5
    obs = par._observations()
    forager_pixels = np.all(obs["forager_0"]["image"] == FORAGER_RGB, axis=-1)
    assert forager_pixels.sum() >= 4
    assert not np.all(obs["forager_1"]["image"] == FORAGER_RGB, axis=-1).any()  # forager 0 is behind it


def test_own_targets_and_cooperative_reward():
    own = multiberry.parallel_env(target_mode="own", num_agents=4)
    goals = set()
    for seed in range(4):
        obs, _ = own.reset(seed=seed)
        goals |= {int(np.argmax(o["goal"])) for o in obs.values()}
    assert len(goals) >= 3
    coop = multiberry.parallel_env(cooperative=True, num_agents=3)
    coop.reset(seed=0)
    s = coop.state_
    s.pose[0, 0] = torch.tensor([3.0, 3.0, 0.0])
    s.berry_timer[0] = 5
    s.berry_timer[0, 0] = 0
    s.berry_colour[0, 0] = 0
    s.berry_pos[0, 0] = torch.tensor([3.7, 3.0])
    _, rewards, _, _, infos = coop.step({"forager_0": 0, "forager_1": 1, "forager_2": 1})
    assert infos["forager_0"]["target_eaten"] == 1.0 and infos["forager_1"]["target_eaten"] == 0.0
    assert rewards == {"forager_0": 1.0, "forager_1": 1.0, "forager_2": 1.0}


def test_arena_trajectory_independent_of_batch_size():
    def run(num_arenas):
        vec = gym.make_vec("MultiBerry-v1", num_envs=num_arenas, max_episode_steps=15, starvation_steps=6)
        obs, _ = vec.reset(seed=10)
        g = torch.Generator().manual_seed(0)
        actions = torch.randint(0, 5, (25, 5 * 4), generator=g)
        frames, rewards, dones = [obs["image"][4:8].clone()], [], []
        for t in range(25):
            obs, reward, term, trunc, _ = vec.step(actions[t, : vec.num_envs])
            frames.append(obs["image"][4:8].clone())
            rewards.append(reward[4:8].clone())
            dones.append((term | trunc)[4:8].clone())
        return torch.stack(frames), torch.stack(rewards), torch.stack(dones)

    a, b = run(2), run(5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert a[2].any()  # deaths or truncations happened inside the window


def test_vector_slots_respawn_with_next_step_autoreset():
    vec = gym.make_vec("MultiBerry-v1", num_envs=2, starvation_steps=3, max_episode_steps=100)
    vec.reset(seed=0)
    vec.unwrapped.state.berry_timer[:] = 100
    spin = torch.ones(8, dtype=torch.long)
    for t in range(3):
        _, reward, term, trunc, info = vec.step(spin)
    assert term.all() and not trunc.any() and info["_forage"].all()
    _, reward, term, _, info = vec.step(spin)
    assert not term.any() and torch.all(reward == 0) and not info["_forage"].any()
    assert vec.unwrapped.state.alive.all()


def test_one_forager_arena_is_the_single_forager_world():
    """Both step through one core: MultiBerry with M = 1 replays CuedBerry, draw for draw."""
    kwargs = dict(num_envs=3, difficulty="medium", max_episode_steps=12)
    multi = gym.make_vec("MultiBerry-v1", num_agents=1, task="cued", **kwargs)
    single = gym.make_vec("CuedBerry-v1", **kwargs)
    a, _ = multi.reset(seed=4)
    b, _ = single.reset(seed=4)
    total = torch.zeros(3)
    for t in range(30):  # two autoresets
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["goal"], b["goal"]), t
        actions = envs.scripted_actions(single.unwrapped)
        assert torch.equal(actions, envs.scripted_actions(multi.unwrapped))
        a, reward, _, truncated, info = multi.step(actions)
        b, expected_reward, _, expected_truncated, expected_info = single.step(actions)
        assert torch.equal(reward, expected_reward) and torch.equal(truncated, expected_truncated)
        assert torch.equal(info["forage"]["r"], expected_info["forage"]["r"])
        total += reward.abs()
    assert total.sum() > 0  # berries were eaten on the way


def test_pettingzoo_takes_numpy_unsigned_actions():
    runs = []
    for dtype in (np.int64, np.uint32):
        par = multiberry.parallel_env(num_agents=2)
        par.reset(seed=3)
        for t in range(5):
            obs, *_ = par.step({a: dtype(3) for a in par.agents})
        runs.append(obs["forager_0"]["image"])
    assert np.array_equal(runs[0], runs[1])


def test_parameter_shared_training_writes_its_event_file(tmp_path, one_torch_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training import Config, train

    config = Config(env="MultiBerry-v1", agent="recurrent", num_envs=2, num_steps=32, total_steps=2048,
                    max_episode_steps=40, update_epochs=1, num_minibatches=2, image_interval=2, video_interval=3,
                    progress=False, device="cpu", run_dir=str(tmp_path / "multi"))
    result = train(config)
    assert result.global_step == 2048  # 2 arenas x 4 foragers x 32 steps x 8 updates
    acc = EventAccumulator(config.run_dir, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in ("charts/episodic_return", "losses/value_loss", "forage/normalized_score"):
        assert tag in tags
    returns = [e.value for e in acc.Scalars("charts/episodic_return")]
    targets = [e.value for e in acc.Scalars("forage/target_eaten")]
    distractors = [e.value for e in acc.Scalars("forage/distractor_eaten")]
    assert returns and np.allclose(returns, np.subtract(targets, distractors))  # +1 per target, -1 per distractor
    # No forager starves, so every slot's episode is cut at exactly max_episode_steps: no length chart.
    assert "charts/episodic_length" not in tags
