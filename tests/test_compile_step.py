"""A world step that can run as one graph (envs/capture.py): it traces with ``fullgraph=True``, steps exactly as
eagerly, reads the knobs a curriculum changes as device values (no new graph when their values change),
returns fresh tensors that no later step writes, and a CUDA-graph replay of it keeps its books (state replaced
from outside, knobs changed) and falls back to eager steps where capture fails.

The default suite traces every world kind with a backend that counts graphs and runs them as traced (a few
seconds); torch's compiler proper (inductor: C++ code generation, ~50 s a world on a 2-core CPU) runs in the
slow suite, and the CUDA graph itself where CUDA exists (scripts/gpu_check.sh runs these first).
"""

from __future__ import annotations

import types

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from agents.runner import Carry
from envs.capture import CapturedStep, CudaGraph, EagerGraph

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")

# Every world kind, small; short episodes so that the steps pass through autoresets; hard worlds draw foliage,
# noise and illumination; each changes a live knob's value (`reconfigure`) on the way.
WORLDS = {
    "RedBerry-v1": ({}, {"foliage_radius": 0.3}),
    "RedBerry-v1/hard-continuous": ({"difficulty": "hard", "action_type": "continuous"},
                                    {"noise": 0.02, "foliage_radius": 0.2}),
    "CuedBerry-v1/hard": ({"difficulty": "hard"}, {"noise": 0.05, "foliage_radius": 0.5}),
    "ReversalBerry-v1/taste": ({"taste": True, "reversal_rate": 0.2}, {"first_colour_share": 0.9}),
    "MultiBerry-v1/starving": ({"num_agents": 3, "starvation_steps": 2}, {"foliage_radius": 0.1}),
}


def make(case: str, device: str = "cpu", num_envs: int = 3):
    kwargs, _ = WORLDS[case]
    return gym.make_vec(case.split("/")[0], num_envs=num_envs, device=device, copy=False, validate_actions=False,
                        max_episode_steps=4, **kwargs).unwrapped


def snapshot(value):
    """A copy on the CPU of a step's outputs (tensors, dicts and tuples of them)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [snapshot(v) for v in value]
    return value


def trajectory(env, case: str, steps: int = 10, more_knobs: dict | None = None) -> list:
    """Every step's outputs and state, through autoresets, a partial reset, a changed knob and (cued) a new
    target, as the same script on any env; ``more_knobs`` are set before the last two steps."""
    env.reset(seed=5)
    generator = torch.Generator().manual_seed(0)
    space = env.single_action_space
    out = []
    for t in range(steps):
        if hasattr(space, "n"):
            action = torch.randint(0, int(space.n), (env.num_envs,), generator=generator)
        else:
            action = torch.rand(env.num_envs, 2, generator=generator) * 2 - 1
        out.append(snapshot(env.step(action.to(env.device))) + [snapshot(env.state.as_dict())])
        if t == 3:
            mask = (torch.arange(env.num_envs) % 2 == 1).to(env.device)
            out.append(snapshot(env.reset(options={"reset_mask": mask})[0]))
        if t == 5:
            env.reconfigure(**WORLDS[case][1])
        if t == 6 and env.target_settable:
            out.append(snapshot(env.set_target(3, swap_berries=True)))
        if t == steps - 3 and more_knobs:
            env.reconfigure(**more_knobs)
    return out


def assert_same(actual: list, expected: list) -> None:
    assert len(actual) == len(expected)
    for t, (a, e) in enumerate(zip(actual, expected)):
        torch.testing.assert_close(a, e, rtol=0, atol=0, equal_nan=True, msg=lambda m: f"step {t}: {m}")


class CountingBackend:
    """A torch.compile backend that records each graph it is given and runs it as traced."""

    def __init__(self):
        self.graphs = []

    def __call__(self, graph_module, example_inputs):
        self.graphs.append(graph_module)
        return graph_module.forward


@pytest.mark.parametrize("case", WORLDS)
def test_the_world_step_traces_as_one_graph_and_steps_as_eagerly(case, one_torch_thread):
    expected = trajectory(make(case), case)
    torch._dynamo.reset()
    env, backend = make(case), CountingBackend()
    env.compile_step(backend=backend)
    assert_same(trajectory(env, case), expected)
    assert not env._fast_step.failed
    # One graph for the step, whatever the knobs' values: reconfigure changed one, and nothing was traced again.
    assert len(backend.graphs) == 1, f"{len(backend.graphs)} graphs: a knob is baked in as a constant"


def test_switching_pixel_noise_on_or_off_is_the_one_change_that_traces_again(one_torch_thread):
    case = "CuedBerry-v1/hard"
    expected = trajectory(make(case), case, more_knobs={"noise": 0.0})
    torch._dynamo.reset()
    env, backend = make(case), CountingBackend()
    env.compile_step(backend=backend)
    assert_same(trajectory(env, case, more_knobs={"noise": 0.0}), expected)
    assert len(backend.graphs) == 2


@pytest.mark.slow  # inductor's C++ code generation: ~50 s on a 2-core CPU
def test_the_world_step_compiled_by_inductor_steps_as_eagerly(one_torch_thread):
    case = "CuedBerry-v1/hard"
    expected = trajectory(make(case), case)
    torch._dynamo.reset()
    env = make(case)
    env.compile_step()
    assert_same(trajectory(env, case), expected)
    assert not env._fast_step.failed


def test_a_failed_compile_warns_once_and_steps_eagerly(one_torch_thread):
    case = "RedBerry-v1"
    expected = trajectory(make(case), case)

    def broken(graph_module, example_inputs):
        raise RuntimeError("no compiler here")

    torch._dynamo.reset()
    env = make(case)
    env.compile_step(backend=broken)
    with pytest.warns(RuntimeWarning, match="compile of the world step failed"):
        actual = trajectory(env, case)
    assert_same(actual, expected)


# --- nothing a step returns is written again --------------------------------------------------------------


def fast(env, mode: str):
    if mode == "compiled":
        torch._dynamo.reset()
        env.compile_step(backend=CountingBackend())
    elif mode == "captured":
        env._fast_step = CapturedStep(env, EagerGraph)
    return env


@pytest.mark.parametrize("mode", ["eager", "compiled", "captured"])
@pytest.mark.parametrize("case", ["RedBerry-v1", "CuedBerry-v1/hard", "MultiBerry-v1/starving"])
def test_what_a_step_returns_is_never_written_again(case, mode, one_torch_thread):
    # copy=False, as the trainer makes its worlds: the observation, reward, flags and info of step t, and the
    # carry's previous reward (the env's reward itself), keep their values through later steps.
    env = fast(make(case), mode)
    obs = env.reset(seed=2)[0]
    carry = Carry(state={}, episode_start=torch.ones(env.num_envs, dtype=torch.bool),
                  valid=torch.ones(env.num_envs, dtype=torch.bool), prev_reward=torch.zeros(env.num_envs),
                  prev_action=torch.zeros(env.num_envs, dtype=torch.long))
    kept = []
    for t in range(6):
        action = torch.full((env.num_envs,), t % 5)
        step = env.step(action)
        carry = carry.advance(types.SimpleNamespace(state={}), action, step[1], step[2], step[3])
        kept.append((step, snapshot(step), carry.prev_reward, snapshot(carry.prev_reward)))
    for step, copy, prev_reward, prev_copy in kept:
        torch.testing.assert_close(snapshot(step), copy, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(prev_reward, prev_copy)
    assert obs["image"].data_ptr() != kept[0][0][0]["image"].data_ptr()


# --- a CUDA graph's bookkeeping, on the CPU (EagerGraph) and on CUDA -----------------------------------------


@pytest.mark.parametrize("case", WORLDS)
def test_a_captured_step_keeps_its_books_and_steps_as_eagerly(case, one_torch_thread):
    expected = trajectory(make(case), case, more_knobs={"noise": 0.0})
    env = make(case)
    env._fast_step = step = CapturedStep(env, EagerGraph)
    assert_same(trajectory(env, case, more_knobs={"noise": 0.0}), expected)
    assert not step.failed
    # Captured once, and again only where pixel noise was switched off (hard worlds have noise).
    assert step.captures == (2 if make(case).config.noise else 1)


class BrokenGraph(EagerGraph):
    def __init__(self, body, device):
        raise RuntimeError("operation not permitted when stream is capturing")


class WrongGraph(EagerGraph):
    def replay(self):
        super().replay()
        self.outputs[1].add_(1.0)  # the reward


@pytest.mark.parametrize("graph, why", [(BrokenGraph, "capturing it failed"), (WrongGraph, "differed")])
def test_a_capture_that_fails_or_differs_warns_and_steps_eagerly(graph, why, one_torch_thread):
    case = "CuedBerry-v1/hard"
    expected = trajectory(make(case), case)
    env = make(case)
    env._fast_step = CapturedStep(env, graph)
    with pytest.warns(RuntimeWarning, match=why):
        actual = trajectory(env, case)
    assert_same(actual, expected)
    assert env._fast_step.failed


def test_capture_step_is_for_cuda_and_a_copy_steps_eagerly():
    import copy

    env = make("RedBerry-v1")
    assert env.capture_step() is False and env._fast_step is None
    env._fast_step = CapturedStep(env, EagerGraph)
    assert copy.deepcopy(env)._fast_step is None
    env.eager_step()
    assert env._fast_step is None


@CUDA
@pytest.mark.parametrize("case", WORLDS)
def test_cuda_captured_step_replays_the_eager_steps(case):
    expected = trajectory(make(case, "cuda"), case, more_knobs={"noise": 0.0})
    env = make(case, "cuda")
    assert env.capture_step() is True
    step = env._fast_step
    assert isinstance(step, CapturedStep) and step.graph_type is CudaGraph
    assert_same(trajectory(env, case, more_knobs={"noise": 0.0}), expected)
    assert not step.failed and step.captures >= 1


# --- the trainer's --cuda-graph -------------------------------------------------------------------------------


def tiny_run(tmp_path, **changes):
    from training import Config

    return Config(num_envs=8, num_steps=16, total_steps=256, max_episode_steps=20, update_epochs=1,
                  num_minibatches=2, image_interval=0, video_interval=0, checkpoint_interval=0, progress=False,
                  run_dir=str(tmp_path / "run"), **changes)


def test_cuda_graph_without_cuda_is_refused_naming_the_flag(tmp_path):
    from training import ConfigError, train

    with pytest.raises(ConfigError, match="--cuda-graph: got it with the device cpu; allowed: a CUDA device"):
        train(tiny_run(tmp_path, device="cpu", cuda_graph=True))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@CUDA
def test_cuda_training_with_cuda_graph_replays_the_captured_step(tmp_path, monkeypatch):
    import training.loop
    from training import train

    made = []
    real = training.loop.make_env

    def recording(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(training.loop, "make_env", recording)
    result = train(tiny_run(tmp_path, device="cuda", cuda_graph=True))
    step = made[0].unwrapped._fast_step
    assert isinstance(step, CapturedStep) and not step.failed and step.captures == 1
    assert result.global_step == 256
