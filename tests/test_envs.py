"""The foraging worlds: Gymnasium compliance, accounting, autoreset, reproducibility, bad input."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import envs
from envs.retina import in_view
from envs.world import num_target_slots

IDS = list(envs.TASK_IDS)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def vec(env_id="RedBerry-v1", num_envs=4, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, **kwargs)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_check_env_passes_without_warnings(env_id, difficulty):
    env = gym.make(env_id, difficulty=difficulty)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_render_is_a_top_down_frame(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=3)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[0] == frame.shape[1] >= 128
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 4  # floor, walls, berries, forager


def test_red_berry_is_drawn_where_the_state_puts_it():
    env = gym.make("RedBerry-v1", render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    state = env.state
    state.berry_colour[0, 0] = 0
    state.berry_timer[0, 0] = 0
    state.berry_pos[0, 0] = torch.tensor([2.0, 6.0])
    state.pose[0] = torch.tensor([6.0, 2.0, 0.0])
    frame = env.render()
    size = frame.shape[0]
    span = env.config.arena_size + 2 * envs.draw.WALL_WIDTH
    col = int((2.0 + envs.draw.WALL_WIDTH) / span * size)
    row = int((env.config.arena_size + envs.draw.WALL_WIDTH - 6.0) / span * size)
    assert tuple(frame[row, col]) == envs.config.PALETTE_RGB[0]


def test_human_render_opens_a_pygame_window_at_render_fps():
    import pygame

    env = gym.make("RedBerry-v1", render_mode="human")
    env.reset(seed=0)
    env.step(0)
    assert pygame.display.get_surface() is not None
    env.close()
    assert pygame.display.get_surface() is None  # close() shuts the window


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
def test_make_vec_shapes_dtypes_devices(device, action_type):
    n = 5
    env = vec(num_envs=n, device=device, action_type=action_type, view_size=32)
    assert isinstance(env.unwrapped, envs.BerryVectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.observation_space == gym.vector.utils.batch_space(env.single_observation_space, n)
    assert env.action_space == gym.vector.utils.batch_space(env.single_action_space, n)
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (n, 32, 32, 3) and obs["image"].dtype == torch.uint8
    assert obs["goal"].shape == (n, 6) and obs["goal"].dtype == torch.float32
    if action_type == "discrete":
        actions = torch.randint(0, 5, (n,), device=device)
    else:
        actions = torch.rand(n, 2, device=device) * 2 - 1
    obs, reward, terminated, truncated, info = env.step(actions)
    for tensor in (obs["image"], obs["goal"], reward, terminated, truncated, info["target_eaten"]):
        assert tensor.device.type == device
    assert reward.shape == (n,) and reward.dtype == torch.float32
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    assert env.observation_space.contains({k: v.cpu().numpy() for k, v in obs.items()})


def test_goal_is_red_cued_per_episode_or_hidden():
    red, _ = vec("RedBerry-v1", 16).reset(seed=0)
    assert torch.all(red["goal"][:, 0] == 1) and torch.all(red["goal"].sum(1) == 1)
    cued, _ = vec("CuedBerry-v1", 64).reset(seed=0)
    assert torch.all(cued["goal"].sum(1) == 1)
    assert len(torch.unique(cued["goal"].argmax(1))) >= 4  # targets really vary across episodes
    hidden, _ = vec("ReversalBerry-v1", 16).reset(seed=0)
    assert torch.all(hidden["goal"] == 0)


def _put_berry_ahead(env, colour):
    """Place berry 0 just ahead of world 0's forager, facing +x, and clear the others away."""
    s = env.unwrapped.state
    s.pose[0] = torch.tensor([3.0, 3.0, 0.0])
    s.berry_timer[0] = 5  # every other berry is regrowing, so nothing else can be eaten
    s.berry_timer[0, 0] = 0
    s.berry_colour[0, 0] = colour
    s.berry_pos[0, 0] = torch.tensor([3.0 + 0.7, 3.0])


@pytest.mark.parametrize("colour,expected", [(0, 1.0), (1, -1.0), (4, -1.0)])
def test_touching_a_red_berry_pays_and_a_distractor_costs(colour, expected):
    env = vec("RedBerry-v1", 2)
    env.reset(seed=0)
    _put_berry_ahead(env, colour)
    _, reward, _, _, info = env.step(torch.tensor([0, 1]))  # world 0 goes forward
    assert reward[0].item() == expected
    assert info["target_eaten"][0].item() == (1.0 if expected > 0 else 0.0)
    assert info["distractor_eaten"][0].item() == (1.0 if expected < 0 else 0.0)
    assert env.unwrapped.state.berry_timer[0, 0].item() == env.unwrapped.config.regrow_delay


def test_distractor_reward_is_configurable():
    env = vec("RedBerry-v1", 1, distractor_reward=-0.25)
    env.reset(seed=0)
    _put_berry_ahead(env, 3)
    assert env.step(torch.tensor([0]))[1][0].item() == -0.25


def test_eaten_berry_regrows_elsewhere_as_its_own_kind_after_the_delay():
    env = vec("RedBerry-v1", 1, regrow_delay=3)
    env.reset(seed=0)
    _put_berry_ahead(env, 0)
    env.step(torch.tensor([0]))
    s = env.unwrapped.state
    eaten_at = s.berry_pos[0, 0].clone()
    for _ in range(2):
        env.step(torch.tensor([1]))
        assert s.berry_timer[0, 0].item() > 0
        s = env.unwrapped.state
    env.step(torch.tensor([1]))
    s = env.unwrapped.state
    assert s.berry_timer[0, 0].item() == 0
    assert not torch.equal(s.berry_pos[0, 0], eaten_at)
    assert s.berry_colour[0, 0].item() == 0  # slot 0 is a target slot
    assert num_target_slots(env.unwrapped.config) == 6


def test_reversal_switches_the_paying_colour_within_an_episode():
    env = vec("ReversalBerry-v1", 32, reversal_rate=0.05, max_episode_steps=200)
    env.reset(seed=0)
    start = env.unwrapped.state.target_colour.clone()
    switched = torch.zeros(32, dtype=torch.bool)
    for _ in range(100):
        env.step(torch.zeros(32, dtype=torch.long))
        switched |= env.unwrapped.state.target_colour != start
    assert switched.float().mean() > 0.9
    assert set(env.unwrapped.state.target_colour.tolist()) <= {0, 4}


@pytest.mark.parametrize("colour", [0, 4])
def test_taste_shows_the_colour_just_eaten_for_one_step(colour):
    """With taste=True, ReversalBerry's goal is the colour eaten on the last step (zeros otherwise), so a
    reward can be bound to the colour that earned it; a reset and a partial reset taste nothing."""
    env = vec("ReversalBerry-v1", 2)  # taste=True and no switches: the task's defaults
    assert env.unwrapped.config.reversal_rate == 0.0
    obs, _ = env.reset(seed=0)
    assert torch.all(obs["goal"] == 0)
    _put_berry_ahead(env, colour)
    env.unwrapped.state.berry_timer[1] = 5  # world 1 has nothing to eat
    obs, reward, _, _, info = env.step(torch.tensor([0, 1]))  # world 0 eats; world 1 turns
    assert info["target_eaten"][0] + info["distractor_eaten"][0] == 1
    assert obs["goal"][0].tolist() == torch.nn.functional.one_hot(torch.tensor(colour), 6).float().tolist()
    assert torch.all(obs["goal"][1] == 0) and info["target_eaten"][1] + info["distractor_eaten"][1] == 0
    assert (reward[0] > 0) == (colour == env.unwrapped.state.target_colour[0].item())
    env.unwrapped.state.berry_timer[:] = 5
    obs, *_ = env.step(torch.tensor([1, 1]))  # nothing eaten: the taste is gone
    assert torch.all(obs["goal"] == 0)
    _put_berry_ahead(env, colour)
    env.step(torch.tensor([0, 1]))
    obs, _ = env.reset(options={"reset_mask": np.array([True, False])})
    assert torch.all(obs["goal"] == 0)
    # A state saved before the taste signal existed loads as tasting nothing.
    saved = env.unwrapped.get_state()
    saved.pop("tasted")
    env.unwrapped.set_state(saved)
    assert torch.all(env.unwrapped.state.tasted == 0)


def test_without_taste_the_reversal_goal_stays_zero_and_other_tasks_refuse_it():
    assert envs.make_config("reversal").taste and not envs.make_config("cued").taste  # the task's default
    env = vec("ReversalBerry-v1", 1, taste=False)
    env.reset(seed=0)
    _put_berry_ahead(env, 0)
    obs, *_ = env.step(torch.tensor([0]))
    assert torch.all(obs["goal"] == 0)
    for env_id in ("RedBerry-v1", "CuedBerry-v1"):
        with pytest.raises(ValueError, match="taste must be False for task=.*taste=True is for ReversalBerry"):
            vec(env_id, 1, taste=True)
    with pytest.raises(ValueError, match="taste=1 is not allowed; taste must be True or False"):
        vec("ReversalBerry-v1", 1, taste=1)


def test_next_step_autoreset_and_episode_info():
    env = vec("RedBerry-v1", 3, max_episode_steps=5)
    env.reset(seed=0)
    for t in range(5):
        _, reward, terminated, truncated, info = env.step(torch.zeros(3, dtype=torch.long))
        assert not terminated.any()
        assert truncated.all() == (t == 4)
    assert info["_forage"].all()
    assert torch.all(info["forage"]["l"] == 5)
    torch.testing.assert_close(info["forage"]["r"], info["forage"]["target_eaten"] - info["forage"]["distractor_eaten"])
    # The next step ignores the action: whatever it is, the worlds restart identically.
    saved = env.unwrapped.get_state()
    a, ra, _, ta, ia = env.step(torch.zeros(3, dtype=torch.long))
    env.unwrapped.set_state(saved)
    b, rb, _, tb, _ = env.step(torch.full((3,), 2, dtype=torch.long))
    assert torch.equal(a["image"], b["image"]) and torch.all(ra == 0) and torch.all(rb == 0)
    assert not ta.any() and not tb.any() and not ia["_forage"].any()
    assert torch.all(env.unwrapped.state.episode_step == 0)
    _, _, _, truncated, _ = env.step(torch.zeros(3, dtype=torch.long))
    assert torch.all(env.unwrapped.state.episode_step == 1) and not truncated.any()


def test_precision_is_target_share_of_eaten():
    env = vec("RedBerry-v1", 64, max_episode_steps=60)
    env.reset(seed=0)
    for _ in range(60):
        _, _, _, truncated, info = env.step(envs.scripted_actions(env.unwrapped))
    ep = info["forage"]
    eaten = ep["target_eaten"] + ep["distractor_eaten"]
    expected = ep["target_eaten"] / eaten
    assert torch.equal(torch.isnan(ep["precision"]), eaten == 0)
    torch.testing.assert_close(ep["precision"][eaten > 0], expected[eaten > 0])


def _actions(seed, steps, action_type="discrete"):
    g = torch.Generator().manual_seed(seed)
    if action_type == "discrete":
        return torch.randint(0, 5, (steps,), generator=g)
    return torch.rand(steps, 2, generator=g) * 2 - 1


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_world_i_trajectory_independent_of_batch_size(difficulty):
    seed, steps, length = 40, 45, 20  # two autoresets inside the window
    kwargs = dict(difficulty=difficulty, max_episode_steps=length)
    actions = {i: _actions(100 + i, steps) for i in range(7)}
    runs = {}
    for n in (3, 7):
        env = vec("CuedBerry-v1", n, **kwargs)
        obs, _ = env.reset(seed=seed)
        trace = [[(obs["image"][i].clone(), obs["goal"][i].clone(), 0.0)] for i in range(n)]
        for t in range(steps):
            obs, reward, _, _, _ = env.step(torch.stack([actions[i][t] for i in range(n)]))
            for i in range(n):
                trace[i].append((obs["image"][i].clone(), obs["goal"][i].clone(), reward[i].item()))
        runs[n] = trace
    for i in (0, 2):
        single = gym.make("CuedBerry-v1", **kwargs)
        obs, _ = single.reset(seed=seed + i)
        alone = [(torch.from_numpy(obs["image"]), torch.from_numpy(obs["goal"]), 0.0)]
        truncated = False
        for t in range(steps):
            if truncated:  # the vector env autoresets on this step; alone, we call reset()
                obs, _ = single.reset()
                reward, truncated = 0.0, False
            else:
                obs, reward, _, truncated, _ = single.step(int(actions[i][t]))
            alone.append((torch.from_numpy(obs["image"]), torch.from_numpy(obs["goal"]), reward))
        for t in range(steps + 1):
            for trace in (runs[3][i], runs[7][i]):
                assert torch.equal(trace[t][0], alone[t][0]), f"world {i} image differs at step {t}"
                assert torch.equal(trace[t][1], alone[t][1]) and trace[t][2] == alone[t][2]


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory_and_other_seed_differs(env_id):
    def rollout(seed):
        env = vec(env_id, 4, difficulty="medium", action_type="continuous")
        obs, _ = env.reset(seed=seed)
        frames, rewards = [obs["image"]], []
        for t in range(30):
            obs, reward, *_ = env.step(_actions(t, 4, "continuous"))
            frames.append(obs["image"])
            rewards.append(reward)
        return torch.stack(frames), torch.stack(rewards)

    a, b, c = rollout(5), rollout(5), rollout(6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_illumination_noise_and_clutter_change_the_view():
    plain = vec("RedBerry-v1", 8).reset(seed=0)[0]["image"].float()
    for knob in (dict(illumination=0.5), dict(noise=0.2), dict(num_foliage=30)):
        changed = vec("RedBerry-v1", 8, **knob).reset(seed=0)[0]["image"].float()
        assert (changed - plain).abs().mean() > 1.0, knob


def test_vector_env_state_round_trip():
    env = vec("ReversalBerry-v1", 4)
    env.reset(seed=9)
    saved = env.unwrapped.get_state()
    first = [env.step(torch.full((4,), t % 5))[0]["image"] for t in range(10)]
    env.unwrapped.set_state(saved)
    second = [env.step(torch.full((4,), t % 5))[0]["image"] for t in range(10)]
    assert all(torch.equal(x, y) for x, y in zip(first, second))
    other = vec("ReversalBerry-v1", 5)
    with pytest.raises(ValueError, match="num_envs"):
        other.unwrapped.set_state(saved)


# -- changing the target --------------------------------------------------------------------
@pytest.mark.parametrize("as_tensor", [False, True])
def test_set_target_makes_the_new_colour_pay_and_cues_it(as_tensor):
    env = vec("CuedBerry-v1", 2)
    first, _ = env.reset(seed=0)
    world = env.unwrapped
    old = int(world.state.target_colour[0])
    new = (old + 2) % 6
    obs = world.set_target(torch.tensor([new, new]) if as_tensor else new)
    assert torch.all(obs["goal"].argmax(1) == new) and torch.all(obs["goal"].sum(1) == 1)
    assert torch.equal(obs["image"], first["image"])  # without a swap the field is as it was
    saved = world.get_state()
    _put_berry_ahead(env, new)
    assert env.step(torch.tensor([0, 1]))[1][0].item() == 1.0
    world.set_state(saved)
    _put_berry_ahead(env, old)
    assert env.step(torch.tensor([0, 1]))[1][0].item() == -1.0
    obs, *_ = env.step(torch.tensor([1, 1]))
    assert torch.all(obs["goal"].argmax(1) == new)  # it holds until the episode ends


def test_set_target_with_swap_trades_the_two_colours_and_keeps_the_counts():
    n = 12
    env = vec("CuedBerry-v1", n, difficulty="medium").unwrapped
    env.reset(seed=1)
    for _ in range(40):  # some berries are eaten and regrowing
        last, *_ = env.step(envs.scripted_actions(env))
    before = env.get_state()
    old = before["target_colour"]
    new = (old + 1 + torch.arange(n) % 5) % 6  # another colour in every world
    image = env.render_arena(0)
    obs = env.set_target(new.cuda() if torch.cuda.is_available() else new, swap_berries=True)
    colour = env.state.berry_colour
    swapped = torch.where(before["berry_colour"] == old[:, None], new[:, None],
                          torch.where(before["berry_colour"] == new[:, None], old[:, None], before["berry_colour"]))
    assert torch.equal(colour, swapped)
    assert torch.equal((colour == new[:, None]).sum(1), (before["berry_colour"] == old[:, None]).sum(1))
    slots = num_target_slots(env.config)
    assert torch.all(envs.world.is_target(env.state)[:, :slots]) and not envs.world.is_target(env.state)[:, slots:].any()
    assert torch.equal(env.state.berry_pos, before["berry_pos"]) and torch.equal(env.state.berry_timer, before["berry_timer"])
    assert torch.equal(obs["goal"].argmax(1), new)
    # The view changes exactly where a berry that changed colour is present and in view.
    changed = (colour != before["berry_colour"]) & (env.state.berry_timer == 0)
    seen = (changed & in_view(env.config, env.state.pose, env.state.berry_pos)).any(1)
    differs = (obs["image"] != last["image"]).flatten(1).any(1)
    assert differs.any() and torch.equal(differs & ~seen, torch.zeros_like(seen))
    assert not np.array_equal(env.render_arena(0), image)


def test_set_target_on_reversal_keeps_to_the_pair():
    env = vec("ReversalBerry-v1", 3).unwrapped
    env.reset(seed=0)
    obs = env.set_target(4, swap_berries=True)
    assert torch.all(env.state.target_colour == 4) and torch.all(obs["goal"] == 0)  # still hidden
    assert set(env.state.berry_colour.unique().tolist()) == {0, 4}
    with pytest.raises(ValueError, match=r"colour=2; allowed: a palette index in \[0, 4\] for the reversal task"):
        env.set_target(2)


@pytest.mark.parametrize("colour,error,match", [
    (6, ValueError, r"colour=6; allowed: a palette index in \[0, 1, 2, 3, 4, 5\]"),
    (-1, ValueError, "colour=-1"),
    (True, ValueError, "colour=True"),
    ("red", ValueError, "colour='red'"),
    (torch.tensor([0, 9]), ValueError, r"colour holds \[9\]"),
    (torch.tensor([0.0, 1.0]), TypeError, "colour is a torch.float32 tensor"),
    (torch.tensor([0, 1, 2]), ValueError, r"colour has shape \(3,\).*N=2"),
])
def test_set_target_rejects_bad_colours_before_any_change(colour, error, match):
    env = vec("CuedBerry-v1", 2).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.set_target(1)
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(error, match=match):
        env.set_target(colour)
    assert all(torch.equal(before[k], v) for k, v in env.get_state().items())


# -- bad input ------------------------------------------------------------------------------
def test_unknown_id_names_the_valid_ones():
    with pytest.raises(gym.error.Error, match="RedBerry"):
        gym.make("RedBery-v0")
    with pytest.raises(ValueError, match="RedBerry-v1"):
        envs.make_numpy_vec("BlueBerry-v0", 2)


@pytest.mark.parametrize("make", [lambda **k: gym.make("RedBerry-v1", **k), lambda **k: vec(**k)])
def test_unknown_or_bad_keyword_raises(make):
    with pytest.raises(ValueError, match="num_berrys.*valid ones are"):
        make(num_berrys=3)
    with pytest.raises(ValueError, match="difficulty='brutal'"):
        make(difficulty="brutal")
    with pytest.raises(ValueError, match="target_share"):
        make(target_share=1.5)
    with pytest.raises(ValueError, match="action_type"):
        make(action_type="joystick")


@pytest.mark.parametrize("bad,error", [
    (torch.zeros(3, dtype=torch.long), ValueError),  # wrong shape
    (torch.zeros(4, 1, dtype=torch.long), ValueError),
    (torch.zeros(4), TypeError),  # float for Discrete
    (torch.zeros(4, dtype=torch.bool), TypeError),
    (torch.tensor([0, 1, 5, 2]), ValueError),  # out of range
    (torch.tensor([0, -1, 2, 2]), ValueError),
])
def test_bad_discrete_actions_raise_before_any_change(bad, error):
    env = vec("RedBerry-v1", 4)
    env.reset(seed=0)
    before = env.unwrapped.get_state()
    with pytest.raises(error, match="actions"):
        env.step(bad)
    after = env.unwrapped.get_state()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("bad,error", [
    (torch.zeros(4, 3), ValueError),
    (torch.zeros(4, 2, dtype=torch.long), TypeError),
    (torch.tensor([[0.0, 0.0]] * 3 + [[1.5, 0.0]]), ValueError),
    (torch.tensor([[0.0, 0.0]] * 3 + [[math.nan, 0.0]]), ValueError),
])
def test_bad_continuous_actions_raise_before_any_change(bad, error):
    env = vec("RedBerry-v1", 4, action_type="continuous")
    env.reset(seed=0)
    before = env.unwrapped.get_state()
    with pytest.raises(error, match="actions"):
        env.step(bad)
    assert all(torch.equal(before[k], v) for k, v in env.unwrapped.get_state().items())


def test_action_errors_name_the_parameter_what_was_given_and_what_is_allowed():
    env = vec("RedBerry-v1", 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^actions holds values out of range, such as \[5\]; Discrete\(5\) allows "
                                         r"integers in \[0, 4\]$"):
        env.step(torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"such as \[18446744073709551615\]"):  # not wrapped to -1 on the way
        env.step(np.array([0, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(TypeError, match=r"^actions has dtype torch.float32; Discrete\(5\) needs integers in \[0, 4\]$"):
        env.step(torch.zeros(2))
    with pytest.raises(TypeError, match="actions='go' \\(str\\) is not numeric"):
        env.step("go")
    cont = vec("RedBerry-v1", 2, action_type="continuous")
    cont.reset(seed=0)
    with pytest.raises(ValueError, match=r"such as \[1.5\].*finite floats in \[-1.0, 1.0\]"):
        cont.step(torch.tensor([[0.0, 0.0], [1.5, 0.0]]))
    with pytest.raises(TypeError, match=r"actions has dtype torch.bool; Box"):
        cont.step(torch.ones(2, 2, dtype=torch.bool))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8])
def test_numpy_integer_actions_of_any_width_step_like_int64(dtype):
    actions = np.array([0, 3, 4])
    runs = []
    for given in (actions, actions.astype(dtype)):
        env = vec("RedBerry-v1", 3)
        env.reset(seed=2)
        runs.append([env.step(given)[0]["image"] for _ in range(4)])
        single = gym.make("RedBerry-v1")
        single.reset(seed=2)
        runs.append([torch.from_numpy(single.step(given[1])[0]["image"]) for _ in range(4)])
    assert all(torch.equal(x, y) for x, y in zip(runs[0], runs[2]))
    assert all(torch.equal(x, y) for x, y in zip(runs[1], runs[3]))
    assert not torch.equal(runs[0][0], runs[0][-1])  # the foragers did move


def test_bad_single_env_actions():
    env = gym.make("RedBerry-v1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(7)
    with pytest.raises(TypeError):
        env.step(1.0)
    cont = gym.make("RedBerry-v1", action_type="continuous")
    cont.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        cont.step(np.array([np.nan, 0.0], dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        cont.step(np.zeros(3, dtype=np.float32))


def test_bad_num_envs_and_device():
    with pytest.raises(ValueError, match="num_envs"):
        vec(num_envs=0)
    with pytest.raises(TypeError, match="num_envs"):
        vec(num_envs="4")
    with pytest.raises(ValueError, match="device"):
        vec(device="tpu")
    with pytest.raises(ValueError, match="device"):
        vec(device="banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            vec(device="cuda")


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match="reset"):
        vec(num_envs=2).step(torch.zeros(2, dtype=torch.long))


# -- numpy path -----------------------------------------------------------------------------
def test_numpy_vector_env_for_numpy_libraries():
    env = envs.make_numpy_vec("CuedBerry-v1", num_envs=6, max_episode_steps=8)
    same = vec("CuedBerry-v1", 6, max_episode_steps=8)  # the torch env it wraps, run beside it
    assert isinstance(env, gym.vector.VectorEnv)
    obs, info = env.reset(seed=0)
    expected, _ = same.reset(seed=0)
    assert isinstance(obs["image"], np.ndarray) and obs["image"].shape == (6, 24, 24, 3)
    env.action_space.seed(0)
    for t in range(20):  # a CleanRL-style loop: sample from the batched space and step; one autoreset
        actions = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(actions.astype(np.uint8) if t % 2 else actions)
        expected, expected_reward, _, expected_truncated, expected_info = same.step(torch.from_numpy(actions))
        assert isinstance(reward, np.ndarray) and reward.dtype == np.float32
        assert isinstance(truncated, np.ndarray) and isinstance(info["target_eaten"], np.ndarray)
        for key in ("image", "goal"):
            np.testing.assert_array_equal(obs[key], expected[key].numpy())
        np.testing.assert_array_equal(reward, expected_reward.numpy())
        np.testing.assert_array_equal(truncated, expected_truncated.numpy())
        np.testing.assert_array_equal(info["forage"]["r"], expected_info["forage"]["r"].numpy())
    assert env.observation_space.contains(obs)


# -- reference policies ---------------------------------------------------------------------
@pytest.mark.parametrize("env_id", IDS)
def test_scripted_forager_beats_random_by_a_wide_margin(env_id):
    refs = envs.reference_returns(env_id, num_envs=24, seed=1, max_episode_steps=250)
    assert refs["scripted"] > refs["random"] + 4.0, refs
    assert envs.normalized_score(refs["scripted"], refs) == pytest.approx(1.0)
    assert envs.normalized_score(refs["random"], refs) == pytest.approx(0.0)


def _one_policy(env_id: str, policy: str, num_envs: int, seed: int, **kwargs) -> float:
    env = gym.make_vec(env_id, num_envs=num_envs, **kwargs).unwrapped
    generator = torch.Generator().manual_seed(seed)
    env.reset(seed=seed)
    total = torch.zeros(env.num_envs)
    for _ in range(env.config.max_episode_steps):
        action = envs.scripted_actions(env) if policy == "scripted" else envs.random_actions(env, generator)
        total += env.step(action)[1]
    return total.mean().item()


@pytest.mark.parametrize("env_id", IDS + ["MultiBerry-v1"])
def test_reference_returns_run_both_policies_at_once_as_each_alone(env_id):
    """Both references run in one env of twice the worlds; each half must score as its policy alone."""
    kwargs = dict(max_episode_steps=60, action_type="continuous") if env_id == "RedBerry-v1" else \
        dict(max_episode_steps=60)
    refs = envs.reference_returns(env_id, num_envs=6, seed=3, **kwargs)
    assert refs == {policy: _one_policy(env_id, policy, 6, 3, **kwargs) for policy in ("random", "scripted")}


def test_scripted_forager_beats_random_on_hard():
    refs = envs.reference_returns("RedBerry-v1", num_envs=24, seed=1, max_episode_steps=250, difficulty="hard")
    assert refs["scripted"] > refs["random"] + 3.0, refs


def test_gymnasium_record_episode_statistics_works_beside_our_forage_info():
    """CleanRL's first wrapper: Gymnasium's RecordEpisodeStatistics owns info["episode"]; ours is info["forage"]."""
    from gymnasium.wrappers import RecordEpisodeStatistics
    from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

    env = VectorRecordEpisodeStatistics(envs.make_numpy_vec("CuedBerry-v1", num_envs=3, max_episode_steps=6))
    env.reset(seed=0)
    rewards = np.zeros(3)
    for _ in range(6):
        _, reward, _, truncated, info = env.step(env.action_space.sample())
        rewards += reward
    assert truncated.all() and info["_episode"].all() and info["_forage"].all()
    np.testing.assert_allclose(info["episode"]["r"], rewards)  # Gymnasium's count agrees with ours
    np.testing.assert_allclose(info["forage"]["r"], rewards)
    assert (info["episode"]["l"] == 6).all() and (info["forage"]["l"] == 6).all()

    single = RecordEpisodeStatistics(gym.make("RedBerry-v1", max_episode_steps=4))  # Gymnasium's TimeLimit cuts
    single.reset(seed=1)
    total = 0.0
    for step in range(4):
        _, reward, terminated, truncated, info = single.step(single.action_space.sample())
        total += reward
        assert info["forage"]["l"] == step + 1  # the episode so far, at every step
    assert truncated and info["episode"]["l"] == 4 and info["episode"]["r"] == pytest.approx(total)
    assert info["forage"]["r"] == pytest.approx(total)


def test_the_info_keys_the_env_docstring_names_are_the_keys_it_emits():
    import re

    from envs.vector import BerryVectorEnv

    section = BerryVectorEnv.__doc__.split("## Info", 1)[1].split("##", 1)[0]
    named = set(re.findall(r"`(_?[a-z_]+)`", section)) - {"episode"}  # `episode` is Gymnasium's wrapper's
    env = gym.make_vec("CuedBerry-v1", num_envs=2, max_episode_steps=3)
    env.reset(seed=0)
    for _ in range(3):
        info = env.step(env.action_space.sample())[4]
    assert bool(info["_forage"].all())  # the episodes ended: every key is there
    emitted = set(info) | set(info["forage"])
    assert named == emitted, (named, emitted)
