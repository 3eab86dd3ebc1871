"""The training run's settings: one dataclass, parsed by tyro, checked before any work starts.

Every flag of ``scripts/train.py`` is a field of `Config`; its docstring is the ``--help`` text.
The resolved config is printed at the start of a run, saved as ``RUN_DIR/config.json`` and
stored in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import typing
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence, Union

import envs
from common.flags import parse_flags

Scalar = Union[bool, int, float, str]

CONFIG_FILE = "config.json"
MAX_SEED = 2 ** 32 - 1
MAX_EPISODE_STEPS = 100_000
MAX_FINAL_EPISODES = 1 << 16  # worlds of the final evaluation, stepped together
# Adam's first step is the learning rate / (1 - beta1) = 10x it, applied as a float32
MAX_LEARNING_RATE = 3.4028234663852886e38 / 10  # seeds are 32-bit, as numpy's and Gymnasium's
# The --colour-prior-ramp a task trains with when the flag is left out: on ReversalBerry the control learned
# to infer the hidden colour only with it (docs/design.md, "The reversal task").
TASK_COLOUR_PRIOR_RAMP = {"reversal": 0.5}  # by task (`envs.TASK_IDS`), whatever the id's version
# The --num-steps a task trains with when the flag is left out. ReversalBerry's reward must be bound to
# a colour eaten tens of steps earlier: with 16-step BPTT the control's precision stayed at 0.71-0.74, with
# 64 it reached 0.77 on fresh worlds (one seed each; docs/design.md, "The reversal task").
TASK_NUM_STEPS = {"reversal": 64}
DEFAULT_NUM_STEPS = 16


class ConfigError(ValueError):
    """A bad flag or config value; the message names the flag, what was given and what is allowed."""


@dataclass
class Config:
    """Train a RedBerry forager with recurrent PPO (CleanRL style) on device-resident worlds.

    Run without flags, it trains the `feedback` agent on RedBerry-v1 on the best device present.
    The PPO defaults are one set for every preset and task, so a comparison changes only the agent:
    CleanRL's 4 epochs x 4 minibatches over 256 worlds x 16 steps, 1M steps (the progress bar's ETA says
    how long here); docs/design.md ("Training") says why 4 x 4.
    Under `torchrun --nproc_per_node=K`, each process steps its own `--num-envs` worlds with its
    own seeds and gradients are all-reduced; rank 0 writes the logs and checkpoints.
    """

    # --- the run -------------------------------------------------------------------------------
    env: str = "RedBerry-v1"
    """Task id registered by `import envs`: RedBerry-v1, CuedBerry-v1, ReversalBerry-v1, MultiBerry-v1 (the v0 ids
    keep the old worlds, whose berries could grow under the forager)"""
    agent: str = "feedback"
    """Agent preset: feedforward, recurrent, early, feedback, whatwhere, dopamine or full."""
    num_envs: int = 256
    """Worlds stepped in parallel (per process under torchrun)."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all worlds and processes."""
    seed: int = 1
    """Seed of the worlds (world i of rank r gets seed + r * num_envs + i) and of torch's RNG."""
    population: int = 1
    """Train this many seeds (--seed, --seed + 1, ...) one after another in one process, each as its own
    run in RUN_DIR/seed<s> (its own agent, optimizer, RNG, TensorBoard run and checkpoint), equal to its
    separate run. --resume RUN_DIR resumes them all."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where worlds, agent and rollouts live; auto picks cuda when present, else cpu."""
    run_dir: Optional[str] = None
    """Directory for TensorBoard events, config and checkpoint; default runs/<env>__<agent>__<seed>__<time>."""
    resume: Optional[str] = None
    """Continue the run in this directory from its last checkpoint, with its saved config."""
    config: Optional[str] = None
    """Load the settings from this JSON file (a run's config.json); flags given beside it override it."""

    # --- the worlds (keyword arguments of gym.make_vec; None keeps the task's default) ----------
    difficulty: Optional[Literal["easy", "medium", "hard"]] = None
    """Difficulty preset of the worlds."""
    view_size: Optional[int] = None
    """Side of the egocentric view in pixels."""
    max_episode_steps: Optional[int] = None
    """Episodes are truncated after this many steps."""
    action_type: Optional[Literal["discrete", "continuous"]] = None
    """Discrete actions, or continuous (linear, angular) velocities."""
    env_kwargs: dict[str, Scalar] = field(default_factory=dict)
    """Any other world keyword arguments, as KEY VALUE pairs (e.g. --env-kwargs num_berries 20 noise 0.1)."""
    stagger_start: bool = True
    """Cut each training world's first episode short, at a uniform step below --max-episode-steps, so that
    episodes end spread out from the first updates (otherwise every world ends its episode together, once per
    --max-episode-steps steps, and the curves come in bursts). The shortened episodes are left out of the
    per-episode curves; per-step rates count every step; reference returns and evaluations play full episodes."""

    # --- the agent -----------------------------------------------------------------------------
    agent_overrides: dict[str, Scalar] = field(default_factory=dict)
    """Fields of the agent's config to override, as KEY VALUE pairs; a JSON list string becomes a tuple."""

    # --- PPO -----------------------------------------------------------------------------------
    # One set of settings for every preset and task (the docstring above; docs/design.md says why).
    num_steps: Optional[int] = None
    """Steps per world per rollout (the BPTT length of recurrent agents). Left out: the task's own, 64 on
    ReversalBerry (`TASK_NUM_STEPS`), 16 elsewhere."""
    learning_rate: float = 5e-4
    """Adam learning rate."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor: of GAE and of the dopamine agents' TD error (the agent is given it)."""
    gae_lambda: float = 0.95
    """Lambda of generalised advantage estimation."""
    num_minibatches: int = 4
    """Minibatches per epoch: groups of worlds for recurrent agents, of samples for stateless ones."""
    update_epochs: int = 4
    """Passes over each rollout."""
    norm_adv: bool = True
    """Normalise advantages within each minibatch."""
    clip_coef: float = 0.2
    """PPO's surrogate clipping coefficient."""
    clip_vloss: bool = True
    """Clip the value loss around the old values, as CleanRL does."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    distractor_ramp: float = 0.0
    """Reward curriculum: over this fraction of the run the cost of eating a distractor ramps linearly from
    0 to the task's own (0 = off, the default). The agent learns from the ramped reward; every logged
    return, score and precision is the task's true one."""
    colour_prior_ramp: Optional[float] = None
    """ReversalBerry curriculum: over this fraction of the run the chance that the first colour of the pair
    (red) pays at an episode's start falls linearly from 1 to the worlds' own `first_colour_share` (0.5),
    so the agent first learns to seek one colour, then to leave it when it costs (0 = off). Left out: the
    task's own, 0.5 on ReversalBerry (`TASK_COLOUR_PRIOR_RAMP`), off elsewhere. Episodes logged during
    the ramp are from the ramped worlds; compare's learning curves start after it."""
    clutter_ramp: float = 0.0
    """Perception curriculum for worlds with foliage or noise: over this fraction of the run the foliage
    discs grow from a point to their full radius and the pixel noise from 0 to its full amplitude, so the
    agent first learns to forage where it can see (0 = off, the default). Episodes logged during the ramp
    are from the easier worlds; compare's learning curves start after it."""
    target_kl: Optional[float] = None
    """Stop an update's epochs early once the approximate KL exceeds this."""
    replay: Literal["batched", "sequential"] = "batched"
    """How PPO re-runs a recurrent agent over its rollout: "batched" runs the part that does not depend on
    the agent's state (the conv trunk; conv1 under top-down gain) once over all frames and steps only the
    rest through time; "sequential" runs the whole agent one step at a time. Both give the same losses and
    gradients to float precision (the sequential one is the reference, for tests and `bench.py train`)."""
    compile: bool = False
    """Compile the agent's step with torch.compile (inductor). It falls back to eager, with a warning, where
    compiling fails. Off by default: on this project's 2-core CPU it measured no faster (`bench.py train`)."""
    cuda_graph: bool = False
    """Replay the worlds' step as one CUDA graph (`capture_step` of the vector env): its ~400 kernel launches
    become one. CUDA only. Where capture fails, or its first replay differs from the eager step, it warns and
    steps eagerly. The steps, and so the run, are the same either way."""

    # --- monitoring and checkpoints (intervals in updates; 0 turns the item off) ---------------
    checkpoint_interval: int = 50
    """Write RUN_DIR/checkpoint.pt every this many updates (also at the end and on Ctrl-C)."""
    image_interval: int = 25
    """Log the agent's view with its spatial gain map every this many updates."""
    video_interval: int = 150
    """Log a GIF of an evaluation episode every this many updates (and at the end)."""
    final_episodes: int = 64
    """Close the run with an evaluation of the saved policy: one full episode in each of this many fresh
    worlds (seeds apart from training's), logged as final/* with 95% intervals and shown in HParams and
    the closing line (0 = skip it)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if isinstance(self.final_episodes, bool) or not isinstance(self.final_episodes, int) or \
                not 0 <= self.final_episodes <= MAX_FINAL_EPISODES:
            raise ConfigError(f"--final-episodes: got {self.final_episodes!r}; allowed: an integer from 0 (no final "
                              f"evaluation) to {MAX_FINAL_EPISODES:,}")
        if self.num_steps is None:  # the task's own rollout length; a saved config holds the number
            self.num_steps = TASK_NUM_STEPS.get(envs.TASK_IDS.get(self.env), DEFAULT_NUM_STEPS)

    @property
    def prior_ramp(self) -> float:
        """--colour-prior-ramp as this run uses it: the flag, else the task's own."""
        if self.colour_prior_ramp is not None:
            return self.colour_prior_ramp
        return TASK_COLOUR_PRIOR_RAMP.get(envs.TASK_IDS.get(self.env), 0.0)

    def env_make_kwargs(self) -> dict[str, Scalar]:
        """Keyword arguments for gym.make_vec: the explicit world flags plus --env-kwargs."""
        explicit = {
            name: getattr(self, name)
            for name in ("difficulty", "view_size", "max_episode_steps", "action_type")
            if getattr(self, name) is not None
        }
        if "version" in self.env_kwargs:
            raise ConfigError(f"--env-kwargs: version={self.env_kwargs['version']!r}; the id sets the worlds' version "
                              f"(--env {self.env}); allowed: the id of the version wanted, e.g. --env "
                              f"{self.env.rsplit('-v', 1)[0]}-v0")
        if "task" in self.env_kwargs and self.env not in envs.MULTI_IDS:  # the id is the task; a kwarg would mislabel the run
            raise ConfigError(f"--env-kwargs: task={self.env_kwargs['task']!r} with --env {self.env}, whose id sets the "
                              f"task; allowed: the task's own id (--env RedBerry-v1, CuedBerry-v1 or ReversalBerry-v1)")
        if "stagger_start" in self.env_kwargs:  # the training worlds' alone: references and evaluations play full ones
            raise ConfigError(f"--env-kwargs: stagger_start={self.env_kwargs['stagger_start']!r}; the trainer sets it "
                              f"for its training worlds only; allowed: --stagger-start or --no-stagger-start")
        for name in explicit:
            if name in self.env_kwargs:
                raise ConfigError(
                    f"--env-kwargs: {name} is also given as --{name.replace('_', '-')}; "
                    f"give it once (allowed: either flag)"
                )
        return {**explicit, **self.env_kwargs}

    def agent_make_overrides(self) -> dict[str, object]:
        """--agent-overrides with JSON list strings turned into tuples (e.g. "[16, 32]")."""
        if "gamma" in self.agent_overrides:  # the agent's config held it once; the run's discount is one
            raise ConfigError(f"--agent-overrides: gamma={self.agent_overrides['gamma']!r} is not an agent field; "
                              f"allowed: --gamma (the run's discount, of GAE and of the dopamine TD error)")
        out: dict[str, object] = {}
        for key, value in self.agent_overrides.items():
            if isinstance(value, str) and value.strip().startswith("["):
                try:
                    value = tuple(json.loads(value))
                except json.JSONDecodeError as exc:
                    raise ConfigError(
                        f"--agent-overrides: {key}={value!r} is not a JSON list ({exc}); "
                        f"allowed: a bool, a number, a string or a JSON list like [16, 32]"
                    ) from None
            out[key] = value
        return out

    def default_run_dir(self) -> str:
        return os.path.join("runs", f"{self.env}__{self.agent}__{self.seed}__{int(time.time())}")


def to_dict(config: Config) -> dict:
    """A JSON-serialisable dict of every field."""
    return dataclasses.asdict(config)


def from_dict(values: dict, source: str) -> Config:
    """Build a Config from a dict such as a saved config.json; ``source`` names it in errors."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a JSON object of config fields, got {type(values).__name__}")
    names = [f.name for f in dataclasses.fields(Config)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown config field(s) {unknown}; allowed: {names}")
    if "colour_prior_ramp" not in values:  # saved before the curriculum existed: trained without it
        values = {**values, "colour_prior_ramp": 0.0}
    if "stagger_start" not in values:  # saved before the trainer staggered its first episodes: trained without
        values = {**values, "stagger_start": False}
    hints = typing.get_type_hints(Config)
    for name, value in values.items():
        allowed = _type_name(hints[name])
        if not _has_type(value, hints[name]):
            raise ConfigError(f"{source}: {name} is {value!r} ({type(value).__name__}); allowed: {allowed}")
    return Config(**values)


def _has_type(value, annotation) -> bool:
    """Whether a JSON value fits a Config field's annotation exactly (a bool is not an int, "false" not a bool)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Union:
        return any(_has_type(value, a) for a in args)
    if origin is Literal:
        return value in args
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _has_type(v, args[1]) for k, v in value.items())
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Union:
        return " or ".join(_type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is dict:
        return "a mapping of names to bools, numbers or strings"
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def load_config_file(path: str, flag: str = "--config") -> Config:
    """Read a config.json written by a run (or by hand)."""
    try:
        with open(path) as f:
            values = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{flag}: no such file {path!r}; allowed: a JSON config such as a run's {CONFIG_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ConfigError(f"{flag}: {path!r} is not valid JSON ({str(exc)[:200]})") from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{flag}: {path!r} cannot be read ({exc.strerror or exc}); allowed: a JSON config file") from None
    return from_dict(values, f"{flag} {path}")


def _peek(argv: Sequence[str], flag: str) -> Optional[str]:
    """The value of ``flag`` in argv (``--flag VALUE`` or ``--flag=VALUE``), if given."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
    return value


def parse_config(argv: Optional[Sequence[str]] = None) -> Config:
    """Parse command-line flags into a Config (tyro), starting from --config or --resume's file.

    With ``--resume RUN_DIR`` the defaults are that run's saved config, so flags given beside it
    (a longer --total-steps, say) override only what they name.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    default = Config()
    default.num_steps = None  # left out, the task's own: resolved once --env is known (`__post_init__`)
    config_path = _peek(argv, "--config")
    resume = _peek(argv, "--resume")
    if config_path is not None and resume is not None:
        raise ConfigError("--config and --resume: give one; a resumed run keeps its own saved config")
    if resume is not None and _peek(argv, "--run-dir") is not None:
        raise ConfigError("--run-dir and --resume: give one; a resumed run writes into its own directory, --resume's")
    if config_path is not None:  # a run's saved config names its own directory; a new run gets its own
        default = dataclasses.replace(load_config_file(config_path), run_dir=None, resume=None, config=None)
    if resume is not None:
        path = os.path.join(resume, CONFIG_FILE)
        if not os.path.isfile(path):
            raise ConfigError(f"--resume: {resume!r} holds no {CONFIG_FILE}; allowed: a run directory written by scripts/train.py")
        default = dataclasses.replace(load_config_file(path, "--resume"), resume=resume, config=None)
    return parse_flags(Config, argv, os.path.basename(sys.argv[0]) or "train.py", ConfigError, default=default)
