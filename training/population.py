"""A population: K runs of one (agent, task) that differ only in their seed, trained in one process.

`training.loop._run` is one run's training, written as CleanRL writes it; a run steps its worlds by
yielding its actions. `step_together` here drives the K runs' loops side by side over one vector
env of K x N worlds: it joins their actions, steps the env once, and sends each run its rows of the
result; at each update's end it sums the runs' episode statistics across processes and tells every
run whether to stop. A population of one is a plain training run (``train`` is K = 1).

Run k owns rows [k N, (k + 1) N) of every batched tensor (slots of arenas on MultiBerry). The worlds
are batch-size invariant (`envs.rng`), so run k's worlds are exactly those of its separate run.
Everything else is the run's own (a `Member`): its agent and Adam state, the generator its actions
and minibatches are drawn from, its rollout, statistics, TensorBoard run and checkpoint in its own
run directory. So a member's run directory is an ordinary run: ``--resume``, ``watch.py`` and
``compare --from`` take it as it is.

Why K loops and not one vmapped model (``torch.func.stack_module_state`` + ``vmap``)? On the CPU,
convolutions under vmap become grouped convolutions, which ran 0.4-0.5x the speed of separate
calls here, forward and backward. The loops run each member's forward and backward at exactly its
separate run's shapes, and what the population saves is the env stepped once for all members and
one process's fixed costs. It runs unchanged on CUDA (device-resident, no host reads in a step);
the vmap form is the one to measure there.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, NamedTuple, Optional, Sequence

import torch

from agents.runner import Carry, env_action
from common.files import write_json
from training import distributed
from training.checks import validate
from training.config import CONFIG_FILE, Config, ConfigError, to_dict
from training.run_state import RunState

# Fields in which the members of one population may differ.
MEMBER_FIELDS = ("seed", "run_dir", "resume", "config", "progress", "population")


def population_configs(config: Config) -> list[Config]:
    """The member runs of ``config``: seeds seed, seed + 1, ..., in RUN_DIR/seed<s> (``--population K``).

    With --population 1 it is ``[config]``. When ``config.resume`` names a population's directory,
    each member resumes from its own directory there."""
    validate(config)  # --population's own bounds, before K configs are made
    k = config.population
    if k == 1:
        return [config]
    base = config.resume or config.run_dir or population_dir(config)
    members = []
    for seed in range(config.seed, config.seed + k):
        member_dir = os.path.join(base, f"seed{seed}")
        members.append(dataclasses.replace(config, seed=seed, population=1, run_dir=member_dir,
                                           resume=member_dir if config.resume else None, config=None))
    return members


def population_dir(config: Config) -> str:
    """The default directory of a population: runs/<env>__<agent>__seeds<first>-<last>__<time>."""
    last = config.seed + config.population - 1
    return config.default_run_dir().replace(f"__{config.seed}__", f"__seeds{config.seed}-{last}__", 1)


def check_members(configs: Sequence[Config]) -> None:
    """Raise ConfigError unless the runs can train as one population: the same settings but the seed
    and the run directory, distinct seeds, and distinct run directories."""
    if not configs:
        raise ConfigError("train_population: got no runs; allowed: one or more configs")
    first = to_dict(configs[0])
    for config in configs[1:]:
        for name, value in to_dict(config).items():
            if name not in MEMBER_FIELDS and value != first[name]:
                raise ConfigError(f"--{name.replace('_', '-')}: a population's runs differ only in "
                                  f"{', '.join(MEMBER_FIELDS[:3])}; got {first[name]!r} and {value!r}")
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seed: a population's runs need distinct seeds; got {seeds}")
    dirs = [os.path.abspath(c.resume or c.run_dir) for c in configs if (c.resume or c.run_dir)]
    if len(set(dirs)) != len(dirs):
        raise ConfigError(f"--run-dir: a population's runs need their own directories; got {dirs}")
    if len(configs) > 1 and any(c.resume for c in configs) and not all(c.resume for c in configs):
        raise ConfigError("--resume: a population resumes all its runs or none")


def write_population_config(config: Config, configs: Sequence[Config]) -> None:
    """RUN_DIR/config.json of a population (``--resume RUN_DIR`` reads it); members write their own."""
    base = os.path.dirname(os.path.normpath(configs[0].run_dir))
    write_json(os.path.join(base, CONFIG_FILE),
               to_dict(dataclasses.replace(config, run_dir=base, resume=None, config=None)))


# --- a member's share of the batched tensors ------------------------------------------------------


def rows_of(value: Any, rows: slice, batch: int) -> Any:
    """``value`` with every tensor whose first dimension is ``batch`` cut to ``rows`` (views, not copies);
    dicts and tuples are followed, anything else is returned as it is."""
    if isinstance(value, torch.Tensor):
        return value[rows] if value.dim() > 0 and value.shape[0] == batch else value
    if isinstance(value, dict):
        return {k: rows_of(v, rows, batch) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(rows_of(v, rows, batch) for v in value)
    return value


def split_state(state: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    """An env's `get_state()` cut into ``parts`` equal shares of its worlds (arenas); 0-d entries are shared."""
    return [{k: (v.chunk(parts)[i] if v.dim() > 0 else v) for k, v in state.items()} for i in range(parts)]


def join_states(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The inverse of `split_state`: the members' saved worlds side by side, for `env.set_state`."""
    return {k: (torch.cat([s[k] for s in states]) if v.dim() > 0 else v) for k, v in states[0].items()}


def join(values: Sequence[Any]) -> Any:
    """Tensors (or dicts of them) of the members concatenated along the batch, in member order."""
    if len(values) == 1:
        return values[0]
    if isinstance(values[0], dict):
        return {k: join([v[k] for v in values]) for k in values[0]}
    return torch.cat(list(values))


@dataclass
class Member:
    """One run of a population and what it owns. ``rows`` are its slots of the shared env."""

    run: RunState
    agent: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # its action samples and minibatch orders
    rows: slice
    batch: int  # the shared env's num_envs, which `rows` cut
    reduce_gradients: Optional[Callable[[], None]] = None  # data-parallel all-reduce (one run per process)
    carry: Optional[Carry] = None  # the agent's carry where the run starts or resumes

    @property
    def config(self) -> Config:
        return self.run.config

    def mine(self, value: Any) -> Any:
        """This member's rows of a batched tensor, dict of tensors or info dict."""
        return rows_of(value, self.rows, self.batch)

    def mine_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This member's share of an env's `get_state()` (its worlds, or its arenas on MultiBerry)."""
        share = self.rows.stop - self.rows.start
        return split_state(state, self.batch // share)[self.rows.start // share]


# --- stepping the runs together ---------------------------------------------------------------


class UpdateEnd(NamedTuple):
    """What a run yields when its update is done: its episode statistics' sums, for `step_together`."""

    sums: torch.Tensor


class Shared(NamedTuple):
    """What every run is told at an update's end: its sums over all processes, whether to stop (Ctrl-C,
    SIGTERM on any process), and the time, so that every run measures its speed on one clock."""

    sums: torch.Tensor
    stop: bool
    now: float


RunLoop = Generator[Any, Any, Any]  # yields actions or UpdateEnd; receives its step rows or Shared; returns its result


def step_together(loops: Sequence[RunLoop], members: Sequence[Member], env, bounds: tuple, stop_request,
                  process: distributed.Process) -> list:
    """Drive the runs' loops in lockstep over the one env they share; each loop's return value, in order.

    Every loop yields, in turn, its actions for a step (then receives its rows of the step's
    ``(obs, reward, terminated, truncated, info)``) or, after its update, `UpdateEnd` (then receives
    `Shared`). The loops are the same run but for the seed, so they ask for the same thing at the same
    time, and they finish together."""
    replies: list = [None] * len(loops)  # None: start the loop (a run resumed after its last update ends at once)
    while True:
        results, requests = [], []
        for loop, reply in zip(loops, replies):
            try:
                requests.append(next(loop) if reply is None else loop.send(reply))
            except StopIteration as done:
                results.append(done.value)
        if results:
            if len(results) != len(loops):
                raise RuntimeError("step_together: the runs of a population stopped at different points")
            return results
        if isinstance(requests[0], UpdateEnd):
            flag = torch.tensor([float(stop_request.requested)], device=requests[0].sums.device)
            shared = distributed.all_sum(torch.cat([r.sums for r in requests] + [flag]), process)
            stop, now = bool(shared[-1] > 0), time.monotonic()
            replies = [Shared(sums, stop, now) for sums in shared[:-1].chunk(len(loops))]
        else:
            step = env.step(env_action(join(requests), *bounds))
            replies = [m.mine(step) for m in members]
