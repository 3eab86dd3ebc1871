"""No host sync in a step, proved on the CPU: every world kind's step and partial reset, and one collect step
of every preset (previous action and reward included, as the trainer steps them), under a guard that raises
on any host read (`common.dispatch.no_host_reads`). On CUDA the same scenarios also run under
``torch.cuda.set_sync_debug_mode("error")``, which raises on any synchronising CUDA call (this widens the
CUDA-only test of the agent's forward that tests/test_agents.py held).

A GPU is lent rarely and for minutes, so what a GPU run needs is proved here: one ``.item()`` in a step, a
``torch.tensor`` of a host list, or ``torch.multinomial`` (which reads its input back) fails these tests.
"""

from __future__ import annotations

import contextlib

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents
import envs
from agents.ppo import Rollout
from agents.runner import Carry
from common.dispatch import HostRead, no_host_reads
from training.build import action_example
from training.loop import collect
from training.stats import EpisodeStats, InternalStats

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Every world kind as the trainer and compare make it (copy=False, validate_actions=False), with short episodes
# so that the steps pass through an autoreset; hard worlds draw foliage, noise and illumination.
WORLDS = {
    "RedBerry-v1": {},
    "RedBerry-v1/hard-continuous": {"difficulty": "hard", "action_type": "continuous"},
    "CuedBerry-v1/hard": {"difficulty": "hard"},
    "ReversalBerry-v1/taste": {"taste": True, "reversal_rate": 0.2},
    "MultiBerry-v1/starving": {"num_agents": 3, "starvation_steps": 2, "target_mode": "own"},
}


@contextlib.contextmanager
def no_sync(device: str):
    """The CPU guard everywhere; on CUDA also torch's own sync detector, set to raise."""
    with no_host_reads():
        if device != "cuda":
            yield
            return
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")


def make(case: str, device: str, num_envs: int = 4, **options):
    env_id = case.split("/")[0]
    return gym.make_vec(env_id, num_envs=num_envs, device=device, copy=False, validate_actions=False,
                        max_episode_steps=3, **WORLDS[case], **options).unwrapped


def actions(env, generator: torch.Generator) -> torch.Tensor:
    """Random actions made on the device before the guarded part (the test's own, not the step's)."""
    space = env.single_action_space
    if hasattr(space, "n"):
        return torch.randint(0, int(space.n), (env.num_envs,), generator=generator).to(env.device)
    return (torch.rand(env.num_envs, 2, generator=generator) * 2 - 1).to(env.device)


# --- the guard itself -------------------------------------------------------------------------------------


READS = {
    "item": lambda x: x.sum().item(),
    "bool": lambda x: bool(x.any()),
    "if": lambda x: 1 if (x > 0).all() else 0,
    "int": lambda x: int(x[0]),
    "float": lambda x: float(x[0]),
    "index": lambda x: [0, 1][x[0].long()],
    "tolist": lambda x: x.tolist(),
    "cpu": lambda x: x.cpu(),
    "numpy": lambda x: x.numpy(),
    "np.asarray": lambda x: np.asarray(x),
    "torch.tensor": lambda x: torch.tensor([1.0, 2.0]),
    "torch.as_tensor": lambda x: torch.as_tensor([1.0, 2.0]),
    "new_tensor": lambda x: x.new_tensor([0.0, 1.0]),
    "from_numpy": lambda x: torch.from_numpy(np.zeros(2)),
    "multinomial": lambda x: torch.multinomial(x.abs() + 0.1, 1),
    "nonzero": lambda x: (x > 0).nonzero(),
    "bool mask": lambda x: x[x > 0],
    "masked_select": lambda x: x.masked_select(x > 0),
    "unique": lambda x: x.unique(),
    "one_hot": lambda x: torch.nn.functional.one_hot(x.long().abs(), 10),  # checks its range on the host (CPU)
}


@pytest.mark.parametrize("read", READS)
def test_the_guard_refuses_every_kind_of_host_read(read):
    x = torch.tensor([1.0, -2.0, 3.0])
    with pytest.raises(HostRead, match="host read in a step"), no_host_reads():
        READS[read](x)


def test_the_guard_lets_device_work_through_and_undoes_its_patches():
    x = torch.tensor([1.0, -2.0, 3.0])
    with no_host_reads():
        y = torch.where(x > 0, x * 2, 0.0).sum() + torch.as_tensor(x).mean()  # as_tensor of a tensor: no copy
        z = torch.zeros(3).scatter_reduce_(0, torch.arange(3), x, reduce="amax")
    assert y.item() == pytest.approx(8.0 + 2 / 3) and z.tolist() == [1.0, 0.0, 3.0]  # unpatched again
    assert torch.tensor([1]).cpu().numpy().tolist() == [1]


# --- the worlds --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", WORLDS)
def test_world_steps_and_partial_resets_read_nothing_on_the_host(case, device, one_torch_thread):
    env = make(case, device)
    env.reset(seed=3)
    generator = torch.Generator().manual_seed(0)
    pool = [actions(env, generator) for _ in range(8)]
    mask = (torch.arange(env.num_envs) % 2 == 0).to(device)
    ended = torch.zeros(env.num_envs, dtype=torch.bool, device=device)
    with no_sync(device):
        for step, action in enumerate(pool):  # through two autoresets (3-step episodes)
            obs, reward, terminated, truncated, info = env.step(action)
            ended |= terminated | truncated
            if step == 4:
                env.reset(options={"reset_mask": mask})
        if env.config.task == "reversal":
            env.reconfigure(first_colour_share=0.75)
        elif env.config.noise:
            env.reconfigure(noise=env.config.noise / 2, foliage_radius=env.config.foliage_radius / 2)
        env.step(pool[0])
    assert obs["image"].shape[0] == env.num_envs and bool(ended.all())  # every slot went through an episode end


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["CuedBerry-v1/hard", "RedBerry-v1/hard-continuous", "MultiBerry-v1/starving"])
def test_the_reference_foragers_read_nothing_on_the_host(case, device, one_torch_thread):
    env = make(case, device)
    env.reset(seed=1)
    generator = torch.Generator(device).manual_seed(0)
    with no_sync(device):
        for _ in range(4):
            env.step(envs.scripted_actions(env))
            env.step(envs.random_actions(env, generator))


@pytest.mark.parametrize("device", DEVICES)
def test_validated_actions_are_the_one_host_read_left(device):
    # validate_actions=True (the default for users) checks the values, which needs the host: the guard sees it.
    env = gym.make_vec("RedBerry-v1", num_envs=2, device=device).unwrapped
    env.reset(seed=0)
    action = torch.zeros(2, dtype=torch.long, device=device)
    with pytest.raises(HostRead), no_host_reads():
        env.step(action)
    env.validate_actions = False
    with no_sync(device):
        env.step(action)


# --- one collect step of every preset ----------------------------------------------------------------------


def collect_steps(env, agent, carry: Carry, obs: dict, generator: torch.Generator, steps: int = 2):
    """``steps`` of the trainer's own collection (`training.loop.collect`: act, sample, log-prob, store,
    step, advance), with the statistics it logs."""
    device = obs["image"].device
    rollout = Rollout.allocate(steps, obs, action_example(env, device))
    obs, carry, _ = collect(agent, env, obs, carry, rollout, generator, episodes=EpisodeStats(device),
                            internals=InternalStats())
    return carry, obs


LESIONED = [(preset, None) for preset in agents.PRESETS] + [
    ("whatwhere", "what"), ("whatwhere", "where"), ("full", "feedback"), ("full", "plasticity"),
    ("feedback", "feedback_core")]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset, lesion", LESIONED, ids=[f"{p}-{l}" if l else p for p, l in LESIONED])
def test_collect_steps_of_every_preset_read_nothing_on_the_host(preset, lesion, device, one_torch_thread):
    env = make("CuedBerry-v1/hard", device)
    torch.manual_seed(0)
    agent = agents.make_agent(preset, env.single_observation_space, env.single_action_space).to(device)
    agent.set_lesion(lesion)
    generator = torch.Generator(device).manual_seed(1)
    obs = env.reset(seed=0)[0]
    carry, obs = collect_steps(env, agent, Carry.start(agent, env.num_envs, device), obs, generator)  # r, a(t-1) != 0
    with no_sync(device):
        carry, obs = collect_steps(env, agent, carry, obs, generator, steps=3)
    assert carry.prev_action.dtype == torch.long and carry.prev_reward.shape == (env.num_envs,)


@pytest.mark.parametrize("device", DEVICES)
def test_a_continuous_collect_step_reads_nothing_on_the_host(device, one_torch_thread):
    env = make("RedBerry-v1/hard-continuous", device)
    torch.manual_seed(0)
    agent = agents.make_agent("full", env.single_observation_space, env.single_action_space).to(device)
    generator = torch.Generator(device).manual_seed(1)
    obs = env.reset(seed=0)[0]
    carry, obs = collect_steps(env, agent, Carry.start(agent, env.num_envs, device), obs, generator)
    with no_sync(device):
        collect_steps(env, agent, carry, obs, generator)
