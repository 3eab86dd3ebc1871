"""A vector env's step as one graph: compiled (`CompiledStep`) or replayed as a CUDA graph (`CapturedStep`).

`ForagingVectorEnv.transition(state, actions)` is a function of tensors with no host sync, whose outputs are
fresh tensors, and which reads the knobs a curriculum changes (`reconfigure`) as device values. So it can run
as one graph. At about 400 kernel launches a step (`python scripts/bench.py launches`), a GPU stepping a few
thousand worlds waits on the launches, not on the work; a CUDA graph launches them all at once.

Both keep the eager step as their fallback: a compile or a capture that fails warns once and the env steps
eagerly from then on, so a run never stops because its step could not be made faster.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import torch

from common.flags import first_line


class CompiledStep:
    """``transition`` through ``torch.compile(fullgraph=True, dynamic=False, **options)``, eager if that fails."""

    def __init__(self, transition: Callable, options: dict):
        self.eager = transition
        self.compiled = torch.compile(transition, fullgraph=True, dynamic=False, **options)
        self.failed = False

    def __call__(self, state, actions):
        if not self.failed:
            try:
                return self.compiled(state, actions)
            except Exception as exc:  # inductor fails in many ways (no compiler, an unsupported op)
                self.failed = True
                warnings.warn(f"compile_step: torch.compile of the world step failed ({first_line(exc)}); stepping "
                              f"eagerly", RuntimeWarning, stacklevel=3)
        return self.eager(state, actions)


class CudaGraph:
    """``body()`` captured as one CUDA graph; ``replay()`` runs it again, writing the same ``outputs``."""

    def __init__(self, body: Callable[[], Any], device: torch.device):
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = body()

    def replay(self) -> None:
        self.graph.replay()


class EagerGraph:
    """The same contract run eagerly, for `CapturedStep`'s bookkeeping on a machine without CUDA: each
    ``replay()`` calls ``body()`` afresh and, as a CUDA graph does, writes the results into the same ``outputs``
    tensors every time (so that what aliases them shows here too)."""

    def __init__(self, body: Callable[[], Any], device: torch.device):
        self.body = body
        self.outputs = None

    def replay(self) -> None:
        fresh = self.body()
        if self.outputs is None:
            self.outputs = fresh
        else:
            _copy_into(self.outputs, fresh)


def _copy_into(target, source) -> None:
    if isinstance(target, torch.Tensor):
        target.copy_(source)
    elif isinstance(target, dict):
        for key in target:
            _copy_into(target[key], source[key])
    elif isinstance(target, (tuple, list)):
        for t, s in zip(target, source):
            _copy_into(t, s)


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_clone(v) for v in value)
    return value


def _same(a, b) -> bool:
    """Bit-equal tensors (NaN where the other has NaN), dicts of them, or equal values."""
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        if a.is_floating_point():
            return bool(torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num()))
        return torch.equal(a, b)
    if isinstance(a, (dict, tuple, list)):
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class CapturedStep:
    """An env's `transition` replayed as one graph (``graph``: `CudaGraph`, or `EagerGraph` to test the
    bookkeeping on the CPU).

    The graph reads the state from fixed tensors (``static``) and the actions from ``actions``, and ends by
    copying the new state into ``static``, so a step is: copy the actions in, replay, clone what the step
    returns (the observation, reward, flags and info: fresh tensors, which no later step writes). The env's
    state is ``static`` between steps. Where the state was replaced from outside (a partial reset,
    `set_target`, `set_state`) it is copied in first. The graph is captured at the first step, and again when
    a knob changes what the step does, not only its values (pixel noise switched on or off); the knobs'
    values live in device tensors that the graph reads.

    At each capture the graph's first replay is checked against an eager step from the same state: where it
    differs, or the capture raises, it warns and the env steps eagerly from then on. The steps returned are
    the eager ones in both cases.
    """

    def __init__(self, env, graph: type = CudaGraph):
        self.env = env
        self.graph_type = graph
        self.graph = None
        self.structure = None
        self.static = None
        self.actions = None
        self.failed = False
        self.captures = 0

    def __call__(self, state, actions):
        if self.failed:
            return self.env.transition(state, actions)
        structure = self.env._step_structure()
        if self.graph is None or structure != self.structure or actions.shape != self.actions.shape:
            return self._capture(state, actions, structure)
        if state is not self.static:  # replaced from outside since the last step
            for name, value in state.as_dict().items():
                getattr(self.static, name).copy_(value)
        self.actions.copy_(actions)
        self.graph.replay()
        obs, reward, terminated, truncated, info = _clone(self.graph.outputs)
        return self.static, obs, reward, terminated, truncated, info, None

    def _body(self):
        static = self.static

        def body():
            new, obs, reward, terminated, truncated, info, _ = self.env.transition(static, self.actions)
            for name, value in new.as_dict().items():
                getattr(static, name).copy_(value)
            return obs, reward, terminated, truncated, info

        return body

    def _capture(self, state, actions, structure):
        expected = self.env.transition(state, actions)  # this step's result, whatever happens below
        try:
            self.static = type(state)(**{k: v.clone() for k, v in state.as_dict().items()})
            self.actions = actions.clone()
            device = self.env.device
            if self.graph_type is CudaGraph:  # warm up on a side stream, as torch.cuda.graph asks
                side = torch.cuda.Stream(device)
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    self.env.transition(self.static, self.actions)
                torch.cuda.current_stream(device).wait_stream(side)
            self.graph = self.graph_type(self._body(), device)
            self.graph.replay()
            ok = _same(self.graph.outputs, expected[1:6]) and _same(self.static.as_dict(), expected[0].as_dict())
        except Exception as exc:  # a capture fails in many ways (an op that syncs, a driver without graphs)
            return self._give_up(f"capturing it failed ({first_line(exc)})", expected)
        if not ok:
            return self._give_up("its first replay differed from the eager step", expected)
        self.structure = structure
        self.captures += 1
        return self.static, *expected[1:6], None

    def _give_up(self, why: str, expected):
        self.failed = True
        self.graph = self.static = None
        warnings.warn(f"capture_step: the world step as a CUDA graph: {why}; stepping eagerly", RuntimeWarning,
                      stacklevel=4)
        return expected
