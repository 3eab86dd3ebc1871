"""ForagingVectorEnv: what every RedBerry vector env does, once, over the one world core.

`BerryVectorEnv` (envs/vector.py; RedBerry, CuedBerry, ReversalBerry) and `MultiBerryVectorEnv`
(envs/multiberry.py) are this class over their own state and core step. Here live the Gymnasium
contract (spaces, seeding, `reset` with partial resets, `step` with next-step autoreset, the info
dict, close), the action check and checkpoint state, and two guards: one thread at a time
(`OneThread`), and the refusal of Gymnasium's numpy wrappers, which need `envs.NumpyVectorEnv`.
A subclass says only how its worlds start, restart, step and look:

  ``_start_all()``    every world starts an episode (a reset; the autoreset step with all resetting)
  ``_restart(mask)``  the masked slots start an episode now, the others keep their state exactly
  ``_advance(s, a)``  one step of the core from state s: an `envs.arena.StepResult` of (num_envs,) tensors
  ``_draw(s)``        the observation {"image", "goal"} of state s, as fresh tensors, and its label map
  ``_use_config(c)``  step and draw with the WorldConfig ``c`` from now on (`reconfigure`)

Both keep the one state type, `envs.arena.WorldState`: MultiBerry in its arenas' layout ((N, M) per
forager), the single-forager worlds in its worlds' layout ((N,) per world, the rows the retina, the
scripted forager, checkpoints and the viewer index). `envs.world` views one layout as the other without
copies, so the rules exist once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ClosedEnvironmentError
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import DictInfoToList, NormalizeReward, RecordEpisodeStatistics

from common.device import resolve_device
from envs import rng
from envs.actions import ActionCheck, action_space
from envs.arena import StepResult, WorldState
from envs.config import NUM_COLOURS, WorldConfig
from envs.numpy_vector import NumpyVectorEnv


def observation_space(config: WorldConfig) -> spaces.Dict:
    """One forager's observation: its egocentric image and the goal vector."""
    size = config.view_size
    return spaces.Dict({
        "image": spaces.Box(0, 255, (size, size, 3), np.uint8),
        "goal": spaces.Box(0.0, 1.0, (NUM_COLOURS,), np.float32),
    })


# Gymnasium's vector wrappers that compute with numpy on the rewards, flags and infos an env returns: on torch
# tensors they fail deep inside (numpy cannot add a tensor into an array, torch cannot subtract a bool tensor), so
# the env refuses them. Wrappers that turn tensors into arrays on the way up end the search (`_refuse_numpy_wrapper`).
NUMPY_WRAPPERS = (RecordEpisodeStatistics, NormalizeReward, DictInfoToList)
try:
    from gymnasium.wrappers.vector.array_conversion import ArrayConversion
    TO_ARRAYS = (NumpyVectorEnv, ArrayConversion)
except ImportError:  # ArrayConversion needs the optional array_api_compat; without it no env is wrapped in one
    TO_ARRAYS = (NumpyVectorEnv,)


class OneThread:
    """A lock that refuses rather than waits: an env's step and reset run one at a time.

    Two threads stepping one env would interleave their actions into one set of worlds, and the state each
    step replaces would lose the other's step. So a call made while another is under way raises at once.
    `acquire(blocking=False)` costs no wait on the fast path. A copy (pickle, deepcopy) gets a fresh lock.
    """

    def __init__(self, owner: str):
        self.owner = owner
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, call: str):
        if not self.lock.acquire(blocking=False):
            raise RuntimeError(f"{self.owner}.{call}() was called while another thread was in a step or reset of "
                               f"this env; an env takes one thread at a time: call it from one thread, or use one env "
                               f"per thread")
        try:
            yield
        finally:
            self.lock.release()

    def __getstate__(self) -> dict:
        return {"owner": self.owner}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["owner"])


def partial_reset_mask(options: dict | None, num_envs: int, device: torch.device) -> torch.Tensor | None:
    """options["reset_mask"], Gymnasium's partial reset, as an (N,) bool tensor on `device`; None
    when absent. It may be a numpy array or a tensor."""
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options={options!r}; allowed: None or a dict such as {{'reset_mask': mask}}")
    if not options or "reset_mask" not in options:
        return None
    mask = options["reset_mask"]
    is_bool = (isinstance(mask, np.ndarray) and mask.dtype == np.bool_) or (
        isinstance(mask, torch.Tensor) and mask.dtype == torch.bool)
    if not is_bool or tuple(mask.shape) != (num_envs,):
        raise ValueError(f"options['reset_mask'] must be a ({num_envs},) bool numpy array or tensor, got "
                         f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {tuple(getattr(mask, 'shape', ()))}")
    if isinstance(mask, torch.Tensor) and mask.device.type == "meta":
        raise TypeError("options['reset_mask'] is a tensor on the meta device, which holds no values; allowed: a "
                        f"({num_envs},) bool numpy array or tensor on a real device")
    return torch.as_tensor(mask, device=device)


class ForagingVectorEnv(VectorEnv):
    """The shared base of RedBerry's vector envs; see the module docstring for what a subclass adds.

    A subclass's ``__init__`` builds ``self.config`` (the WorldConfig), then calls `_setup`, then
    sets ``self.state``. ``num_worlds`` counts what a seed numbers (worlds, or arenas on MultiBerry).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 15}
    state_type = WorldState  # the dataclass of ``self.state``
    worlds_name = "num_envs"  # the argument that counts the seeded worlds, for error messages

    def _setup(self, num_envs: int, num_worlds: int, device, render_mode, copy: bool, validate_actions: bool):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported by the vector env; use None or 'rgb_array'")
        self.device = resolve_device(device)
        self.num_envs, self.num_worlds = int(num_envs), int(num_worlds)
        self.render_mode = render_mode
        self.copy = copy
        self.validate_actions = validate_actions
        self._built_config = self.config  # what `reconfigure` may not exceed (the retina's margin holds its discs)
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._check_actions = ActionCheck(self.single_action_space, (self.num_envs,), self.device)
        self._idle_action = self._check_actions(np.zeros(self.action_space.shape, self.action_space.dtype))
        self._seeded = False
        self._one_thread = OneThread(type(self).__name__)
        # Live knobs the core reads inside a step, as device values (`reconfigure`), not constants.
        self._first_colour_share = torch.full((), self.config.first_colour_share, dtype=torch.float32,
                                              device=self.device)
        self._fast_step = None  # `compile_step` / `capture_step`: what `step` runs instead of `transition`

    # -- Gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Start a new episode everywhere. seed s gives world (arena) i the seed s + i; a list gives
        each its own.

        With options={"reset_mask": (num_envs,) bool} (Gymnasium's partial reset, numpy or torch), only
        the masked slots start a new episode, now, on their own seeds, as their next step's autoreset
        would; everything else keeps its state exactly. Every slot's observation comes back."""
        self._refuse_numpy_wrapper(sys._getframe(1))
        with self._one_thread("reset"):
            return self._reset(seed, options)

    def _reset(self, seed, options):
        self._check_open("reset")
        mask = partial_reset_mask(options, self.num_envs, self.device)
        if mask is not None:
            if not self._seeded or seed is not None:
                raise ValueError("a reset with options['reset_mask'] restarts worlds on their own seeds: call "
                                 "reset(seed=...) without a mask first, and no seed with a mask")
            self.state = self._restart(mask)
            return self._observe(), {}
        if seed is not None or not self._seeded:
            folded = [rng.fold_seed(s) for s in rng.world_seeds(seed, self.num_worlds, self.worlds_name)]
            self.state.seed = torch.tensor(folded, dtype=torch.int64, device=self.device)
            self.state.counter = torch.zeros(self.num_worlds, dtype=torch.int64, device=self.device)
            self._seeded = True
        self.state = self._start_all()
        return self._observe(), {}

    def step(self, actions):
        self._refuse_numpy_wrapper(sys._getframe(1))
        with self._one_thread("step"):
            return self._step(actions)

    def _step(self, actions):
        self._check_open("step")
        if not self._seeded:
            raise RuntimeError("step() was called before reset(); call reset(seed=...) first")
        actions = self._check_actions(actions, check_values=self.validate_actions)
        stepper = self.transition if self._fast_step is None else self._fast_step
        self.state, obs, reward, terminated, truncated, info, labels = stepper(self.state, actions)
        if labels is not None:
            self._remember(self.state, labels)
        return obs, reward, terminated, truncated, info

    def transition(self, state, actions: torch.Tensor):
        """One step of the worlds from ``state`` under checked ``actions`` (on the device, as `step` passes
        them): ``(state, obs, reward, terminated, truncated, info, labels)``, every tensor fresh (none is a
        buffer a later step writes again) and no host sync. A function of its inputs, the worlds' config as
        built and the live knobs' device values, so it can be compiled with ``fullgraph=True`` or captured
        (`compile_step`, `capture_step`). ``labels`` is the label map of the views, or None."""
        result = self._advance(state, actions)
        s = result.state
        eaten = s.episode_target + s.episode_distractor
        info = {
            "target_eaten": result.target_eaten,
            "distractor_eaten": result.distractor_eaten,
            "forage": {
                "r": s.episode_return.reshape(-1).clone(),
                "l": s.episode_step.reshape(-1).clone(),
                "target_eaten": s.episode_target.reshape(-1).clone(),
                "distractor_eaten": s.episode_distractor.reshape(-1).clone(),
                "precision": (s.episode_target / eaten).reshape(-1),  # NaN where nothing was eaten
            },
            "_forage": result.terminated | result.truncated,
        }
        if self._built_config.stagger_start:  # the episodes that end inside a first episode it cut short
            short = s.episode_limit < self._built_config.max_episode_steps  # (num_worlds,)
            slots = self.num_envs // self.num_worlds
            info["forage"]["staggered"] = short[:, None].expand(self.num_worlds, slots).reshape(-1)
        obs, labels = self._draw(s)
        return s, obs, result.reward, result.terminated, result.truncated, info, labels

    def _observe(self) -> dict[str, torch.Tensor]:
        """The observation of the current state (after a reset or a change of the state)."""
        obs, labels = self._draw(self.state)
        if labels is not None:
            self._remember(self.state, labels)
        return obs

    def _remember(self, state, labels: torch.Tensor) -> None:
        """Keep the label map of ``state`` that a step drew (for target masks); nothing by default."""

    # -- A step as one graph ----------------------------------------------------------------------
    def compile_step(self, **options) -> None:
        """Run `transition` through ``torch.compile(fullgraph=True, dynamic=False, **options)`` from the
        next step on (``mode="reduce-overhead"`` adds CUDA graphs on CUDA). The steps are the same as
        eager ones (tests/test_compile_step.py). If compiling fails, the first step warns once and this
        env steps eagerly from then on. A copy (pickle, deepcopy) steps eagerly."""
        from envs.capture import CompiledStep

        self._fast_step = CompiledStep(self.transition, options)

    def capture_step(self) -> bool:
        """Replay `transition` as one CUDA graph from the next step on (`envs.capture.CapturedStep`): the
        first step captures it, checks it against an eager step from the same state, and falls back to
        eager steps, with a warning, where capture fails or differs. Returns False (and changes nothing)
        where the env is not on a CUDA device. A copy (pickle, deepcopy) steps eagerly."""
        if self.device.type != "cuda":
            return False
        from envs.capture import CapturedStep

        self._fast_step = CapturedStep(self)
        return True

    def _step_structure(self) -> tuple:
        """What a captured step must be captured again for: the knobs whose change changes the ops a step
        runs, not only their values (pixel noise on or off)."""
        return (self.config.noise > 0,)

    def eager_step(self) -> None:
        """Step with `transition` itself again (undoes `compile_step` and `capture_step`)."""
        self._fast_step = None

    def __getstate__(self) -> dict:
        return {k: (None if k == "_fast_step" else v) for k, v in self.__dict__.items()}

    def _refuse_numpy_wrapper(self, frame) -> None:
        """TypeError where one of Gymnasium's numpy wrappers (`NUMPY_WRAPPERS`) makes this call: the caller's frame
        ``frame`` and the frames above it, as long as they are methods of vector wrappers that pass tensors on."""
        while frame is not None:
            wrapper = frame.f_locals.get("self")
            if isinstance(wrapper, NUMPY_WRAPPERS):
                name = type(wrapper).__name__
                raise TypeError(f"{name} computes with numpy arrays and {type(self).__name__} returns torch tensors: "
                                f"wrap {name}(envs.NumpyVectorEnv(env)) instead (numpy at the boundary, one copy to the "
                                f"host per step), or read each ended episode's statistics from info['forage'] where "
                                f"info['_forage']")
            if not isinstance(wrapper, VectorWrapper) or isinstance(wrapper, TO_ARRAYS):
                return
            frame = frame.f_back

    def render(self):
        """The top-down frame of world (arena) 0 (uint8, H x W x 3), in 'rgb_array' mode."""
        return self.render_arena(0) if self.render_mode == "rgb_array" else None

    def _check_frame(self, index, size) -> tuple[int, int]:
        """`render_arena`'s arguments as ints, or ValueError naming the one that is out of range."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < self.num_worlds:
            raise ValueError(f"index={index!r}; allowed: an int from 0 to {self.num_worlds - 1} (the world or arena to draw)")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 16 <= size <= 4096:
            raise ValueError(f"size={size!r}; allowed: an int from 16 to 4096 (the frame's side in pixels)")
        return int(index), int(size)

    def _check_open(self, call: str) -> None:
        if self.closed:
            raise ClosedEnvironmentError(f"{call}() was called after close(); make a new env (gym.make_vec) to go on")

    # -- Knobs a curriculum changes between steps ---------------------------------------------
    LIVE_KNOBS = ("first_colour_share", "noise", "foliage_radius")

    def reconfigure(self, **knobs: float) -> None:
        """Change world knobs from the next step on, keeping the state: the knobs that change neither a
        space nor a tensor's shape (`LIVE_KNOBS`): ``first_colour_share`` and ``noise`` in [0, 1], and
        ``foliage_radius`` from 0 up to the radius the env was made with. The trainer's curricula use it."""
        limits = {"first_colour_share": 1.0, "noise": 1.0, "foliage_radius": self._built_config.foliage_radius}
        for name, value in knobs.items():
            if name not in limits:
                raise ValueError(f"reconfigure: {name!r} cannot change between steps; allowed: {list(self.LIVE_KNOBS)} "
                                 f"(other knobs need a new env)")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limits[name]:
                raise ValueError(f"reconfigure: {name}={value!r}; allowed: a number from 0 to {limits[name]}")
        self._use_config(dataclasses.replace(self.config, **{k: float(v) for k, v in knobs.items()}))
        self._first_colour_share.fill_(self.config.first_colour_share)  # in place: a captured step reads it

    # -- State for checkpoints -------------------------------------------------------------
    def get_state(self) -> dict[str, torch.Tensor]:
        """Every tensor of the worlds' state (cloned), for checkpoints, as `_saved_fields` records it."""
        out = {k: v.clone() for k, v in self._saved_fields(self.state.as_dict()).items()}
        out["seeded"] = torch.tensor(self._seeded)
        return out

    def set_state(self, saved: dict[str, torch.Tensor]) -> None:
        """Restore what get_state returned (this version's or an earlier one's); the shapes must match this env's."""
        current = self.state.as_dict()
        wanted = sorted(set(self._saved_fields(current)) - {"tasted", "episode_limit"})  # those two may be absent
        missing = [name for name in wanted if name not in saved]
        if missing:
            raise ValueError(f"env state is missing {missing}; it was not made by {type(self).__name__}.get_state()")
        saved = self._state_fields(saved, current)
        for name, value in current.items():
            if tuple(saved[name].shape) != tuple(value.shape):
                raise ValueError(f"env state {name!r} has shape {tuple(saved[name].shape)}, this env needs "
                                 f"{tuple(value.shape)}: {self.worlds_name} and the world config must match the saved run")
        self.state = self.state_type(**{k: saved[k].to(self.device, v.dtype) for k, v in current.items()})
        self._seeded = bool(saved.get("seeded", torch.tensor(True)))

    # A checkpoint holds the fields that are not constant by construction, under the names they had before the
    # worlds shared one state type, so that saved runs resume and the pinned trajectories hash the same record.
    def _saved_fields(self, fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The state's fields (`WorldState.as_dict`) as a checkpoint records them: without the episode limits
        where `stagger_start` is off (every episode then runs max_episode_steps)."""
        if not self.config.stagger_start:
            fields = {k: v for k, v in fields.items() if k != "episode_limit"}
        return fields

    def _state_fields(self, saved: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> dict:
        """The inverse of `_saved_fields`, for earlier versions' records too: saved before the taste signal (or
        on MultiBerry, which has none), nothing was tasted; saved without episode limits, every episode runs its
        full length. ``current``: this env's fields, for shapes."""
        if "tasted" not in saved:
            saved = {**saved, "tasted": torch.zeros_like(current["tasted"])}
        if "episode_limit" not in saved:
            saved = {**saved, "episode_limit": torch.full_like(current["episode_limit"], self.config.max_episode_steps)}
        return saved

    # -- per forager slot, the same on every env (the viewer reads these) ----------------------
    def slot_targets(self) -> torch.Tensor:
        """(num_envs,) int64: the colour that pays each forager slot now."""
        return self.state.target_colour

    def slot_alive(self) -> torch.Tensor:
        """(num_envs,) bool: which foragers are alive (a starved MultiBerry forager is dead until its next step)."""
        return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)

    def arena_foragers(self, index: int) -> dict[str, np.ndarray] | None:
        """Arena ``index``'s forager poses and alive mask for `envs.draw`, or None where a world has one forager."""
        return None

    @property
    def target_settable(self) -> bool:
        """Whether `set_target` may change the paying colour: on cued single-forager worlds only (elsewhere
        the target is fixed, hidden, or each forager's own)."""
        return False

    # -- what a subclass provides -----------------------------------------------------------
    def _use_config(self, config: WorldConfig) -> None:
        """Step and draw with ``config`` (same shapes as now) from the next step on."""
        raise NotImplementedError

    def _start_all(self) -> Any:
        raise NotImplementedError

    def _restart(self, mask: torch.Tensor) -> Any:
        raise NotImplementedError

    def _advance(self, state, actions: torch.Tensor) -> StepResult:
        raise NotImplementedError

    def _draw(self, state) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        raise NotImplementedError

    def render_arena(self, index: int = 0, size: int = 384) -> np.ndarray:
        raise NotImplementedError
