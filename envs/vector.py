"""BerryVectorEnv: N foraging worlds stepped together on one torch device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs import rng, world
from envs.actions import ActionCheck, action_space
from envs.config import MAX_WORLDS, NUM_COLOURS, WorldConfig, make_config
from envs.retina import LABEL_BERRY, Retina
from envs.world import WorldState, empty_state, goal_vector, step_worlds


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when present; anything torch cannot use raises ValueError."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:index]'") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is not supported; use 'auto', 'cpu' or 'cuda[:index]'")
    return resolved


def check_open(env, call: str) -> None:
    """Raise Gymnasium's ClosedEnvironmentError for a call on a closed vector env, as its own envs do."""
    if env.closed:
        from gymnasium.error import ClosedEnvironmentError

        raise ClosedEnvironmentError(f"{call}() was called after close(); make a new env (gym.make_vec) to go on")


def partial_reset_mask(options: dict | None, num_envs: int, device: torch.device) -> torch.Tensor | None:
    """options["reset_mask"], Gymnasium's partial reset, as an (N,) bool tensor on `device`; None
    when absent. It may be a numpy array or a tensor."""
    if not options or "reset_mask" not in options:
        return None
    mask = options["reset_mask"]
    is_bool = (isinstance(mask, np.ndarray) and mask.dtype == np.bool_) or (
        isinstance(mask, torch.Tensor) and mask.dtype == torch.bool)
    if not is_bool or tuple(mask.shape) != (num_envs,):
        raise ValueError(f"options['reset_mask'] must be a ({num_envs},) bool numpy array or tensor, got "
                         f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {tuple(getattr(mask, 'shape', ()))}")
    return torch.as_tensor(mask, device=device)


def observation_space(config: WorldConfig) -> spaces.Dict:
    size = config.view_size
    return spaces.Dict({
        "image": spaces.Box(0, 255, (size, size, 3), np.uint8),
        "goal": spaces.Box(0.0, 1.0, (NUM_COLOURS,), np.float32),
    })


class BerryVectorEnv(VectorEnv):
    """N foraging worlds on one torch device, stepped together with no host sync.

    ## Description
    A disc-shaped forager roams a walled square arena in which coloured berries grow. Eating a
    berry of the target colour pays; eating any other colour costs. Eaten berries regrow elsewhere
    after a delay, so foraging goes on until the episode is truncated. The task (`task`) decides
    the target: always red (`RedBerry-v0`), cued per episode (`CuedBerry-v0`), or switching at
    random times and hidden (`ReversalBerry-v0`). `set_target(colour, swap_berries)` changes the
    paying colour mid-episode, for cue-change experiments and the viewer.

    ## Action Space
    `Discrete(5)` by default: 0 forward, 1 turn left, 2 turn right, 3 forward-left, 4
    forward-right. With `action_type="continuous"`: `Box(-1, 1, (2,))` of (linear, angular)
    velocity, in units of `forward_speed` and `turn_speed`. Batched actions are a torch tensor
    (N,) of integers or (N, 2) of floats, on any device (moved to the env's).

    ## Observation Space
    `Dict(image=Box(0, 255, (H, W, 3), uint8), goal=Box(0, 1, (6,), float32))`, batched to
    (N, ...) torch tensors on the env's device. The image is the egocentric view: the forager
    sits 1.5 pixels above the bottom edge, centred, facing up; the view spans `view_extent`
    world units. The goal is a one-hot over the palette (red, orange, yellow, cyan, blue,
    magenta) naming the target, always red on RedBerry. On ReversalBerry the target is hidden: the
    goal is zeros or, with `taste=True`, the colour of the berry eaten on the last step (zeros when
    none was), as an animal tastes what it ate.

    ## Rewards
    `target_reward` (+1) per target berry eaten, `distractor_reward` (-1) per other berry.

    ## Starting State
    Uniform random pose, berries and foliage, a per-episode illumination, and the target colour
    drawn as the task says. All randomness is keyed by (seed, env index, step counter, draw).

    ## Episode End
    No termination; truncation after `max_episode_steps` (500) steps. Autoreset is
    `AutoresetMode.NEXT_STEP`: on the step after a truncation, env i ignores its action, starts a
    new episode and returns its first observation with reward 0.

    ## Info
    Every step: `target_eaten`, `distractor_eaten` (N,) float32. Where `_forage` (N,) is True,
    `forage` holds the ended episode's `r`, `l`, `target_eaten`, `distractor_eaten` and
    `precision` = target / (target + distractor) (NaN when nothing was eaten). (`episode` is left to
    Gymnasium's RecordEpisodeStatistics wrapper, which the trainer does not need.)

    ## Arguments
    `num_envs`, `task`, `device` ('auto', 'cpu', 'cuda'), `render_mode` (None or 'rgb_array'),
    `copy` (return fresh observation tensors; False returns the env's buffers, which the next
    step overwrites), `validate_actions` (check the values of actions and of `set_target`'s
    colours, one host sync per call; shape and dtype are always checked), `difficulty` ('easy', 'medium', 'hard') and every knob of
    `envs.config.WorldConfig` as a keyword.

    ## Version History
    * v0: initial version.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, num_envs: int = 1, task: str = "red", device: str | torch.device = "cpu",
                 render_mode: str | None = None, copy: bool = True, validate_actions: bool = True, **kwargs: Any):
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool):
            raise TypeError(f"num_envs={num_envs!r} must be an int >= 1")
        if not 1 <= num_envs <= MAX_WORLDS:
            raise ValueError(f"num_envs={num_envs!r} must be an int from 1 to {MAX_WORLDS:,}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported by the vector env; use None or 'rgb_array'")
        self.config = make_config(task, **kwargs)
        self.device = resolve_device(device)
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.copy = copy
        self.validate_actions = validate_actions
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.state: WorldState = empty_state(self.config, self.num_envs, self.device)
        self.retina = Retina(self.config, self.num_envs, self.device)
        self._seeded = False
        self._check_actions = ActionCheck(self.single_action_space, (self.num_envs,), self.device)
        self._idle_action = self._check_actions(np.zeros(self.action_space.shape, self.action_space.dtype))

    # -- Gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Start a new episode in every world. seed s gives world i the seed s + i.

        With options={"reset_mask": (N,) bool} (Gymnasium's partial reset, numpy or torch), only the
        masked worlds start a new episode, now, on their own seeds; the others keep their state
        exactly (`world.restart_worlds`). Every world's observation comes back."""
        check_open(self, "reset")
        mask = partial_reset_mask(options, self.num_envs, self.device)
        if mask is not None:
            if not self._seeded or seed is not None:
                raise ValueError("a reset with options['reset_mask'] restarts worlds on their own seeds: call "
                                 "reset(seed=...) without a mask first, and no seed with a mask")
            self.state = world.restart_worlds(self.config, self.state, mask)
            return self._observe(), {}
        if seed is not None:
            self._set_seeds(seed)
        elif not self._seeded:
            self._set_seeds(None)
        # A reset is the autoreset step with every world resetting: one code path for both.
        self.state.needs_reset = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.state = step_worlds(self.config, self.state, self._idle_action)[0]
        return self._observe(), {}

    def step(self, actions):
        check_open(self, "step")
        if not self._seeded:
            raise RuntimeError("step() was called before reset(); call reset(seed=...) first")
        actions = self._check_actions(actions, check_values=self.validate_actions)
        self.state, reward, truncated, target_eaten, distractor_eaten = step_worlds(self.config, self.state, actions)
        s = self.state
        eaten = s.episode_target + s.episode_distractor
        info = {
            "target_eaten": target_eaten,
            "distractor_eaten": distractor_eaten,
            "forage": {
                "r": s.episode_return.clone(),
                "l": s.episode_step.clone(),
                "target_eaten": s.episode_target.clone(),
                "distractor_eaten": s.episode_distractor.clone(),
                "precision": s.episode_target / eaten,  # NaN where nothing was eaten
            },
            "_forage": truncated,
        }
        terminated = torch.zeros_like(truncated)
        return self._observe(), reward, terminated, truncated, info

    def render(self):
        """The top-down arena frame of world 0 (uint8, H x W x 3), in 'rgb_array' mode."""
        if self.render_mode is None:
            return None
        return self.render_arena(0)

    def render_arena(self, index: int = 0, size: int = 384) -> np.ndarray:
        """A top-down frame (size, size, 3) uint8 of world `index`, drawn by envs.draw."""
        from envs.draw import draw_arena_frame

        if not 0 <= index < self.num_envs:
            raise ValueError(f"index={index} must be in [0, {self.num_envs - 1}]")
        return draw_arena_frame(self.config, self.state, index, size)

    # -- Changing the task ------------------------------------------------------------------
    def set_target(self, colour, swap_berries: bool = False) -> dict[str, torch.Tensor]:
        """Make `colour` the paying colour of every world, from the next step to the episode's end.

        colour: an int, or an (N,) int64 tensor on any device (one colour per world), a palette
        index in [0, 5]; on ReversalBerry one of `reversal_colours`. With swap_berries=True the
        berries of each world's old and new target colour trade colours, so the field keeps its
        numbers of targets and distractors (`envs.world.set_target`). Setting itself needs no host
        sync; checking a tensor's values costs one, skipped with `validate_actions=False`.
        Returns the observation {"image", "goal"} redrawn from the changed state.
        """
        if not self._seeded:
            raise RuntimeError("set_target() was called before reset(); call reset(seed=...) first")
        allowed = self.config.reversal_colours if self.config.task == "reversal" else tuple(range(NUM_COLOURS))
        text = f"a palette index in {list(allowed)} for the {self.config.task} task, as an int or an (N,) int64 tensor"
        if isinstance(colour, torch.Tensor):
            if colour.dtype != torch.int64:
                raise TypeError(f"colour is a {colour.dtype} tensor; allowed: {text}")
            if tuple(colour.shape) != (self.num_envs,):
                raise ValueError(f"colour has shape {tuple(colour.shape)}; allowed: {text}, N={self.num_envs}")
            colour = colour.to(self.device)
            valid = torch.isin(colour, torch.tensor(allowed, device=self.device))
            if self.validate_actions and not bool(valid.all()):  # the one host sync
                raise ValueError(f"colour holds {colour[~valid][:4].tolist()}; allowed: {text}")
        elif isinstance(colour, (int, np.integer)) and not isinstance(colour, bool) and int(colour) in allowed:
            colour = torch.full((self.num_envs,), int(colour), dtype=torch.int64, device=self.device)
        else:
            raise ValueError(f"colour={colour!r}; allowed: {text}")
        self.state = world.set_target(self.state, colour, bool(swap_berries))
        return self._observe()

    # -- What the worlds show (for attention measures) ---------------------------------------
    def target_mask(self, distractors: bool = False) -> torch.Tensor:
        """(N, H, W) bool: the pixels of the current observation that show a berry of each world's
        paying colour (with distractors=True: a berry of any other colour), read from the retina's
        label map, so foliage over a berry hides it and noise or illumination do not matter. No host sync."""
        labels = self.retina.interior  # (N, H, W) uint8
        target = labels == (LABEL_BERRY + self.state.target_colour).to(torch.uint8)[:, None, None]
        if not distractors:
            return target
        return (labels >= LABEL_BERRY) & (labels < LABEL_BERRY + NUM_COLOURS) & ~target

    def distractor_colour(self, order: torch.Tensor) -> torch.Tensor:
        """(N,) int64: per world, the first colour in `order` ((P,) or (N, P) palette indices) that is
        not the paying colour and has a berry present now; where no such berry is present, the first
        non-paying colour in `order`. For a wrong cue that names something really there. No host sync."""
        order = order.to(self.device).expand(self.num_envs, NUM_COLOURS)  # (N, P)
        present = (self.state.berry_timer == 0)[..., None] & (
            self.state.berry_colour[..., None] == torch.arange(NUM_COLOURS, device=self.device))  # (N, K, P)
        candidate = present.any(1).gather(1, order)  # (N, P), in `order`'s order
        other = order != self.state.target_colour[:, None]  # (N, P)
        rank = torch.arange(NUM_COLOURS, 0, -1, device=self.device)  # earlier in order ranks higher
        score = (candidate & other) * 2 * NUM_COLOURS + other * rank  # present first, then order
        return order.gather(1, score.argmax(1, keepdim=True))[:, 0]

    # -- State for checkpoints -------------------------------------------------------------
    def get_state(self) -> dict[str, torch.Tensor]:
        """Every tensor of the worlds' state (cloned), for checkpoints."""
        out = {k: v.clone() for k, v in self.state.as_dict().items()}
        out["seeded"] = torch.tensor(self._seeded)
        return out

    def set_state(self, saved: dict[str, torch.Tensor]) -> None:
        """Restore what get_state returned; shapes must match this env's."""
        current = self.state.as_dict()
        if "tasted" not in saved:  # saved before the taste signal existed: nothing tasted yet
            saved = {**saved, "tasted": torch.zeros_like(current["tasted"])}
        missing = sorted(set(current) - set(saved))
        if missing:
            raise ValueError(f"env state is missing {missing}; it was not made by BerryVectorEnv.get_state()")
        for name, value in current.items():
            if tuple(saved[name].shape) != tuple(value.shape):
                raise ValueError(f"env state {name!r} has shape {tuple(saved[name].shape)}, this env needs "
                                 f"{tuple(value.shape)}: num_envs and the world config must match the saved run")
        self.state = WorldState(**{k: saved[k].to(self.device, v.dtype) for k, v in current.items()})
        self._seeded = bool(saved.get("seeded", torch.tensor(True)))

    # -- internals --------------------------------------------------------------------------
    def _set_seeds(self, seed) -> None:
        seeds = rng.world_seeds(seed, self.num_envs)
        folded = [rng.fold_seed(s) for s in seeds]
        self.state.seed = torch.tensor(folded, dtype=torch.int64, device=self.device)
        self.state.counter = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._seeded = True

    def _observe(self) -> dict[str, torch.Tensor]:
        image = self.retina.render(self.state)
        return {"image": image.clone() if self.copy else image, "goal": goal_vector(self.config, self.state)}


def make_vector_env(num_envs: int = 1, **kwargs) -> BerryVectorEnv:
    """The `vector_entry_point` of the registered ids."""
    return BerryVectorEnv(num_envs=num_envs, **kwargs)
