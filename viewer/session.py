"""A watched forager: one world, one trained agent, stepped one frame at a time.

On MultiBerry-v1 the world is one arena of M foragers, all driven by the agent (parameter sharing,
as trained); one of them, `watched`, is the one whose view, internals and episode are shown.

`load_session` reads a training checkpoint and rebuilds the world and the agent it was trained
with (through `training.make_env` and `make_agent`, so the viewer builds them exactly as the
trainer did). Every problem with the input (a missing, corrupt or mismatched checkpoint, an
unknown env) raises `WatchError` with a one-line message, before anything is drawn.

`Session` keeps the agent's output for the observation it is looking at, so what a frame shows
(the retina, the gains, the gates) is what produced the next action. It owns the live controls
that a test can call directly: `set_goal`, `toggle_feedback_lesion`, `reset`.
"""

from __future__ import annotations

import math
import os
from collections import deque
from typing import Optional

import numpy as np
import torch

import envs
from agents.runner import Carry, env_action, sample
from common.flags import first_line
from envs.world import ACTION_NAMES
from training import make_agent, make_env
from training.checkpoint import CheckpointError, checkpoint_file, read_run
from training.config import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CHECKPOINT = os.path.join(ROOT, "assets", "demo.pt")
DEMO_COMMAND = ("python scripts/train.py --env CuedBerry-v1 --total-steps 1200000 --run-dir runs/demo && "
                "python -m training.export runs/demo assets/demo.pt")
HISTORY = 200  # steps kept for the running plot

MULTI_ONLY_KWARGS = ("num_agents", "target_mode", "cooperative", "starvation_steps", "task")


class WatchError(ValueError):
    """Bad input to the viewer; the message is one line that says what to do."""


def resolve_checkpoint(path: Optional[str]) -> str:
    """A checkpoint file from --checkpoint: a file, a run directory (its checkpoint.pt), or None
    for the shipped demo checkpoint."""
    if path is None:
        if not os.path.isfile(DEMO_CHECKPOINT):
            raise WatchError(f"no --checkpoint given and the demo checkpoint {DEMO_CHECKPOINT} is missing; "
                             f"pass --checkpoint runs/<run>, or make the demo with: {DEMO_COMMAND}")
        return DEMO_CHECKPOINT
    if os.path.isdir(path):
        try:
            return checkpoint_file(path)
        except CheckpointError as exc:
            raise WatchError(f"--checkpoint: {exc}") from None
    if not os.path.exists(path):
        raise WatchError(f"--checkpoint: {path!r} does not exist; allowed: a run directory or .pt file "
                         f"written by scripts/train.py")
    return path


def load_session(checkpoint: Optional[str] = None, env_id: Optional[str] = None, seed: int = 0,
                 forager: int = 0) -> "Session":
    """Load the agent of `checkpoint` and the world it was trained on (or `env_id`, same settings).
    On MultiBerry-v1, `forager` is the one watched.

    Raises WatchError naming the input when the checkpoint is missing, corrupt, foreign or does
    not fit the env, or when env_id is not one of RedBerry's worlds.
    """
    if env_id is not None and env_id not in envs.ENV_IDS:
        raise WatchError(f"--env: got {env_id!r}; allowed: {', '.join(sorted(envs.ENV_IDS))}")
    path = resolve_checkpoint(checkpoint)
    try:
        saved = read_run(path)
    except CheckpointError as exc:
        raise WatchError(f"--checkpoint: {exc}") from None
    payload, config, agent_config = saved.payload, saved.config, saved.agent_values
    trained_on = config.env
    if env_id is None and trained_on not in envs.ENV_IDS:
        raise WatchError(f"--checkpoint: {path!r} was trained on {trained_on!r}, which the viewer cannot show; "
                         f"pass --env with one of {', '.join(sorted(envs.ENV_IDS))}")
    config.env = env_id or trained_on
    if config.env in envs.MULTI_IDS and trained_on not in envs.MULTI_IDS and "task" not in config.env_kwargs:
        # an agent trained alone, watched among others: on its own kind of task (MultiBerry has no reversal)
        config.env_kwargs = {**config.env_kwargs, "task": "cued" if envs.TASK_IDS.get(trained_on) == "cued" else "red"}
    if config.env not in envs.MULTI_IDS and trained_on in envs.MULTI_IDS:  # the multi-forager knobs mean nothing alone
        config.env_kwargs = {k: v for k, v in config.env_kwargs.items() if k not in MULTI_ONLY_KWARGS}
    device = torch.device("cpu")
    try:
        env = make_env(config, 1, device)
    except ConfigError as exc:
        if env_id is None or env_id == trained_on:  # its own world: the checkpoint's settings are bad
            raise WatchError(f"--checkpoint: {path!r} holds world settings {config.env} refuses ({first_line(exc)}); "
                             f"retrain it with scripts/train.py") from None
        raise WatchError(f"--env {config.env}: the world settings of the checkpoint {path!r} do not fit it "
                         f"({first_line(exc)}); allowed: the env it was trained on ({trained_on})") from None
    try:
        agent = make_agent(config, env, agent_config)
        agent.load_state_dict(payload["model"])
        agent.eval()
        session = Session(env, agent, config.env, config.agent, seed, forager)
    except WatchError:
        raise
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise WatchError(f"--checkpoint: {path!r} does not match {config.env} or its own agent config "
                         f"({first_line(exc)}); watch it on the env it was trained on ({trained_on}) "
                         f"or retrain it") from None
    session.checkpoint = path
    return session


class Session:
    """One world and one agent, stepped together. Host-side by design: one world, read every frame.

    The env has `num_slots` forager slots (1, or the M foragers of one MultiBerry arena); the agent
    acts for all of them and slot `watched` is shown. After construction and after every `step`,
    `obs` is the observation of every slot, `internals` (numpy, the watched slot's) are the agent's
    signals computed from it, and `history` holds the watched slot's last HISTORY steps' (reward,
    dopamine) pairs (dopamine NaN for agents without plasticity).
    """

    def __init__(self, env, agent, env_id: str, preset: str, seed: int = 0, forager: int = 0):
        self.env = env
        self.agent = agent
        self.env_id = env_id
        self.preset = preset
        self.seed = seed
        self.num_slots = env.num_envs
        if not (isinstance(forager, int) and 0 <= forager < self.num_slots):
            raise WatchError(f"--forager: got {forager!r}; allowed: 0 to {self.num_slots - 1} "
                             f"(the foragers of {env_id})")
        self.watched = forager
        self.checkpoint: Optional[str] = None
        self.history: deque[tuple[float, float]] = deque(maxlen=HISTORY)
        self._episodes = np.zeros(self.num_slots, dtype=np.int64)  # per forager: its episode on screen, from 1
        self._episodes_done = np.zeros(self.num_slots, dtype=np.int64)  # per forager: episodes that ran to their end
        torch.manual_seed(seed)  # the agent samples its actions
        self.obs, _ = env.reset(seed=seed)
        self._start_episode()

    # -- what a frame shows ---------------------------------------------------------------------

    @property
    def config(self):
        return self.env.config

    @property
    def goal(self) -> np.ndarray:
        """(P,) the goal the watched forager is given for the observation on screen."""
        return self.obs["goal"][self.watched].numpy()

    @property
    def episode(self) -> int:
        """The watched forager's episode on screen, from 1 (MultiBerry foragers starve and respawn apart)."""
        return int(self._episodes[self.watched])

    @property
    def episodes_done(self) -> int:
        """The watched forager's episodes that ran to their end (what --episodes counts)."""
        return int(self._episodes_done[self.watched])

    @property
    def view(self) -> np.ndarray:
        """(H, W, 3) uint8: the watched forager's view on screen."""
        return self.obs["image"][self.watched].numpy()

    @property
    def target_colour(self) -> int:
        """The palette index that pays the watched forager now (on ReversalBerry the agent is not told)."""
        return int(self.env.slot_targets()[self.watched])

    @property
    def goal_settable(self) -> bool:
        """Only single-forager cued tasks let the goal change: elsewhere it is fixed (red), hidden
        (reversal), or each MultiBerry forager's own."""
        return self.env.target_settable

    def foragers(self) -> Optional[dict[str, np.ndarray]]:
        """Every forager's pose and alive mask for the arena drawing, or None in a single-forager world."""
        return self.env.arena_foragers(0)

    def alive(self) -> bool:
        """Whether the watched forager is alive (a starved MultiBerry forager is dead until its next step)."""
        return bool(self.env.slot_alive()[self.watched])

    def next_forager(self) -> int:
        """Watch the next forager of the arena (MultiBerry); returns its index."""
        self.watched = (self.watched + 1) % self.num_slots
        self.history.clear()
        self._think()
        return self.watched

    @property
    def discrete(self) -> bool:
        """Whether the forager's actions are Discrete (else a (linear, angular) pair)."""
        return self.agent.discrete

    @property
    def has_feedback(self) -> bool:
        return self.agent.feedback is not None

    @property
    def lesioned(self) -> bool:
        return self.agent.lesion == "feedback"

    def policy(self) -> tuple[list[str], np.ndarray, float]:
        """What the agent is about to do: action names, their probabilities (discrete) or the
        Gaussian's mean (continuous: linear, angular, in [-1, 1]), and its value estimate V."""
        dist, w = self.out.dist, self.watched
        if self.agent.discrete:
            return list(ACTION_NAMES), dist.probs[w].numpy(), float(self.out.value[w])
        return ["linear", "angular"], dist.mean[w].clamp(-1, 1).numpy(), float(self.out.value[w])

    def episode_stats(self, slot: Optional[int] = None) -> dict[str, float]:
        """The on-screen episode's step, targets and distractors eaten, and return, of forager `slot`
        (default: the watched one)."""
        s, k = self.env.state, self.watched if slot is None else slot
        return {"step": int(s.episode_step.reshape(-1)[k]), "targets": float(s.episode_target.reshape(-1)[k]),
                "distractors": float(s.episode_distractor.reshape(-1)[k]),
                "return": float(s.episode_return.reshape(-1)[k])}

    # -- controls -------------------------------------------------------------------------------

    def step(self) -> None:
        """Act on the observation on screen, step the world, and think about the new observation."""
        action = sample(self.out.dist)  # (B,) or (B, 2); torch's RNG, seeded by `seed`
        self.obs, reward, terminated, truncated, info = self.env.step(env_action(action))
        self.carry = self.carry.advance(self.out, action, reward, terminated, truncated)
        w = self.watched
        self._episodes += self.carry.episode_start.numpy()  # next-step autoreset: this step started an episode
        self._episodes_done += info["_forage"].numpy()
        self._think()
        dopamine = self.internals.get("dopamine")
        self.history.append((float(reward[w]), math.nan if dopamine is None else float(dopamine)))

    def set_goal(self, colour: int) -> None:
        """Make `colour` the target on a cued task: the reward and the agent's goal input change together.

        The world's target colour decides which berries pay and the goal the agent sees; the env's
        `set_target` changes it and redraws the observation, and the agent thinks again, so the next
        action already follows the new goal. It holds for the
        rest of the episode; the next episode draws its own target.
        """
        if not self.goal_settable:
            raise ValueError(f"the goal of {self.env_id} ({self.config.task} task) cannot be set; "
                             f"allowed: a cued task such as CuedBerry-v1")
        self.obs = self.env.set_target(colour)  # checks colour; the image is redrawn, the berries stay
        self._think()

    def switch_cue(self) -> int:
        """Cue another colour (`set_goal`): the next one round the palette from the current target
        that has a berry in the field now (`BerryVectorEnv.distractor_colour`), so the agent has
        something to turn to. Returns the new colour."""
        order = (self.target_colour + 1 + torch.arange(envs.config.NUM_COLOURS)) % envs.config.NUM_COLOURS
        colour = int(self.env.distractor_colour(order)[0])
        self.set_goal(colour)
        return colour

    def toggle_feedback_lesion(self) -> bool:
        """Cut or restore the top-down feedback (gains fixed at 1); returns whether it is now cut."""
        if not self.has_feedback:
            raise ValueError(f"the {self.preset} agent has no feedback to lesion; allowed: an agent with "
                             f"feedback (feedback, full)")
        self.agent.set_lesion(None if self.lesioned else "feedback")
        self._think()
        return self.lesioned

    def reset(self) -> None:
        """Start a new episode now (the world's random stream goes on, so it is a new one)."""
        self.obs, _ = self.env.reset()
        self._start_episode()

    # -- internals ------------------------------------------------------------------------------

    def _start_episode(self) -> None:
        self.carry = Carry.start(self.agent, self.num_slots, "cpu")
        self._episodes += 1
        self._think()

    def _think(self) -> None:
        """The agent's output for the observation on screen, from the state before it."""
        with torch.no_grad():
            self.out = self.carry.act(self.agent, self.obs)
        self.internals = {key: value[self.watched].numpy() for key, value in self.out.internals.items()}

