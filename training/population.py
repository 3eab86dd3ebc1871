"""A population: K runs of one (agent, task) that differ only in their seed, trained one after another
in one process (`training.loop.train_population`).

Each member is an ordinary run in its own directory, RUN_DIR/seed<s>: ``--resume``, ``watch.py`` and
``compare --from`` take it as it is, and it is exactly its separate run (tested). The population
directory's config.json records the config the members were expanded from, so that ``--resume
RUN_DIR`` resumes them all: the finished ones end at once, the interrupted one goes on, and the ones
not yet started start.

Why one after another and not side by side? Stepping K runs' worlds as one env (the lockstep this
module had) bought 0.99-1.09x on the CPU, where the world is 1-3% of an update, and tied every run
to the others. A GPU gain would come from batching the members' networks (vmapping the whole
training function from outside, as PureJaxRL does), which is for a GPU measurement to decide.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from common.files import write_json
from training.checkpoint import CHECKPOINT_FILE
from training.checks import check_population
from training.config import CONFIG_FILE, Config, ConfigError, to_dict

# Fields in which the members of one population may differ.
MEMBER_FIELDS = ("seed", "run_dir", "resume", "config", "progress", "population")


def population_configs(config: Config) -> list[Config]:
    """The member runs of ``config``: seeds seed, seed + 1, ..., in RUN_DIR/seed<s> (``--population K``).

    With --population 1 it is ``[config]``. When ``config.resume`` names a population's directory,
    each member resumes from its own directory there, and a member that had not started (its directory
    holds no checkpoint: the population was stopped before it) starts there."""
    check_population(config)  # --population's own bounds, before K configs are made
    k = config.population
    if k == 1:
        return [config]
    base = config.resume or config.run_dir or population_dir(config)
    members = []
    for seed in range(config.seed, config.seed + k):
        member_dir = os.path.join(base, f"seed{seed}")
        started = bool(config.resume) and os.path.isfile(os.path.join(member_dir, CHECKPOINT_FILE))
        members.append(dataclasses.replace(config, seed=seed, population=1, run_dir=member_dir,
                                           resume=member_dir if started else None, config=None))
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


def write_population_config(config: Config, member: Config) -> None:
    """RUN_DIR/config.json of the population ``config`` whose ``member`` (a run in RUN_DIR/seed<s>) is training;
    ``--resume RUN_DIR`` reads it. Members write their own."""
    base = os.path.dirname(os.path.normpath(member.run_dir))
    write_json(os.path.join(base, CONFIG_FILE),
               to_dict(dataclasses.replace(config, run_dir=base, resume=None, config=None)))
