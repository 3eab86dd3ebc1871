"""BerryVectorEnv: N foraging worlds stepped together on one torch device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from envs import world
from envs.arena import StepResult
from envs.base import ForagingVectorEnv
from envs.config import MAX_WORLDS, NUM_COLOURS, make_config
from envs.retina import Retina
from envs.world import WorldState, empty_state, goal_vector, step_worlds


class BerryVectorEnv(ForagingVectorEnv):
    """N foraging worlds on one torch device, stepped together with no host sync.

    ## Description
    A disc-shaped forager roams a walled square arena in which coloured berries grow. Eating a
    berry of the target colour pays; eating any other colour costs. Eaten berries regrow elsewhere
    after a delay, so foraging goes on until the episode is truncated. The task (`task`) decides
    the target: always red (`RedBerry-v1`), cued per episode (`CuedBerry-v1`), or switching at
    random times and hidden (`ReversalBerry-v1`). `set_target(colour, swap_berries)` changes the
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
    new episode and returns its first observation with reward 0. With `stagger_start=True` the first
    episode of each world after `reset()` is truncated at a uniform step in [1, max_episode_steps - 1],
    drawn from the world's own stream (the same for world i whatever num_envs is), so that episode ends
    are spread out from the start rather than all falling on the same step; episodes after an autoreset
    or a partial reset run the full length.

    ## Info
    Every step: `target_eaten`, `distractor_eaten` (N,) float32. Where `_forage` (N,) is True,
    `forage` holds the ended episode's `r`, `l`, `target_eaten`, `distractor_eaten` and
    `precision` = target / (target + distractor) (NaN when nothing was eaten): the episode statistics,
    on the device. With `stagger_start=True` it also holds `info["forage"]["staggered"]` (N,) bool: True
    where the episode that ends was a first episode the stagger cut short (leave those out of full-episode
    averages). Gymnasium's wrappers that compute on rewards, flags and infos with numpy
    (`RecordEpisodeStatistics`, `NormalizeReward`, `DictInfoToList`) need the numpy face: wrap
    `envs.NumpyVectorEnv(env)` (or `envs.make_numpy_vec(...)`), which copies to the host each step.
    Around this env itself they are refused with a TypeError that says so.

    ## Arguments
    `num_envs`, `task`, `device` ('auto', 'cpu', 'cuda'), `render_mode` (None or 'rgb_array'),
    `copy` (accepted for compatibility: every step returns fresh tensors, which no later step
    writes again, whatever it says), `validate_actions` (check the values of actions and of `set_target`'s
    colours, one host sync per call; shape, dtype and device are always checked. With False no value
    is read on the host, and none can harm the worlds: a discrete action outside [0, 4] stands
    still, a continuous NaN counts as 0 and other values are clipped to [-1, 1]
    (`envs.actions.velocities`), and a colour outside the allowed ones leaves that world's target as
    it was), `difficulty` ('easy', 'medium', 'hard') and every knob of `envs.config.WorldConfig` as
    a keyword.

    ## Copies and threads
    Pickle, cloudpickle and `copy.deepcopy` give an env that steps exactly as the original. One
    thread at a time may step or reset an env: a call from a second thread while one is under way
    raises RuntimeError (use one env per thread).

    ## A step as one graph
    A step has no host sync and returns fresh tensors, and the knobs `reconfigure` changes enter it as
    device values, so `compile_step()` runs it through `torch.compile(fullgraph=True)` and, on CUDA,
    `capture_step()` replays it as one CUDA graph; both fall back to eager steps, with a warning,
    where they fail (`envs.capture`).

    ## Version History
    * `stagger_start` (v0 and v1, off by default): the first episode of each world after `reset()` ends at a
      uniform step below `max_episode_steps`, so that a training run's episode ends are spread out from its
      start; those episodes are marked in `info["forage"]["staggered"]`. With it off, nothing changes.
    * v1: berries grow only outside an exclusion zone around every forager (its radius, the berry's and
      one step's travel) and never on another berry, at reset and at regrowth; ReversalBerry honours
      `target_share`. Measured with `python -m envs.audit` (4,096 worlds, a forager that only turns):
      v0 fed it a berry in its first 5 steps in 21% / 18% / 19% of worlds (easy / medium / hard) and
      had overlapping berries at reset in 74% / 78% / 92%; v1 in none.
    * v0: initial version; kept with its exact rules, so the stored records in docs/data reproduce.
    """

    def __init__(self, num_envs: int = 1, task: str = "red", device: str | torch.device = "cpu",
                 render_mode: str | None = None, copy: bool = True, validate_actions: bool = True, **kwargs: Any):
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool):
            raise TypeError(f"num_envs={num_envs!r} must be an int >= 1")
        if not 1 <= num_envs <= MAX_WORLDS:
            raise ValueError(f"num_envs={num_envs!r} must be an int from 1 to {MAX_WORLDS:,}")
        self.config = make_config(task, **kwargs)
        self._setup(num_envs, num_envs, device, render_mode, copy, validate_actions)
        self.state: WorldState = empty_state(self.config, self.num_envs, self.device)
        self.retina = Retina(self.config, self.num_envs, self.device)

    # -- the worlds' part of the base's reset and step (envs/base.py) -------------------------
    def _start_all(self) -> WorldState:
        # A reset is the autoreset step with every world resetting: one code path for both.
        self.state.arena_reset = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        return step_worlds(self.config, self.state, self._idle_action, stagger=True).state

    def _restart(self, mask: torch.Tensor) -> WorldState:
        return world.restart_worlds(self.config, self.state, mask)

    def _advance(self, state: WorldState, actions: torch.Tensor) -> StepResult:
        # The config as built, with the live knob as a device value: a compiled step does not bake it in.
        return step_worlds(self._built_config, state, actions, first_colour_share=self._first_colour_share)

    def _draw(self, state: WorldState):
        image, labels = self.retina.draw(state)  # fresh tensors: `copy` has nothing left to copy
        return {"image": image, "goal": goal_vector(self._built_config, state)}, labels

    def _remember(self, state: WorldState, labels: torch.Tensor) -> None:
        self.retina.remember(state, labels)

    def _use_config(self, config) -> None:
        self.config = config
        self.retina.use_config(config)

    @property
    def target_settable(self) -> bool:
        return self.config.task == "cued"

    # One forager per world: these arena fields are constant or copies of the world's own (`_state_fields`).
    ONE_FORAGER_DERIVED = ("alive", "agent_target", "hunger", "arena_step", "slot_reset")

    def _saved_fields(self, fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        fields = {k: v for k, v in super()._saved_fields(fields).items() if k not in self.ONE_FORAGER_DERIVED}
        fields["needs_reset"] = fields.pop("arena_reset")
        return fields

    def _state_fields(self, saved: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> dict:
        saved = dict(super()._state_fields(saved, current))
        saved["arena_reset"] = saved.pop("needs_reset")
        saved.update(alive=torch.ones_like(current["alive"]), agent_target=saved["target_colour"],
                     hunger=torch.zeros_like(current["hunger"]), arena_step=saved["episode_step"],
                     slot_reset=torch.zeros_like(current["slot_reset"]))
        return saved

    def render_arena(self, index: int = 0, size: int = 384) -> np.ndarray:
        """A top-down frame (size, size, 3) uint8 of world `index`, drawn by envs.draw."""
        from envs.draw import draw_arena_frame  # pygame loads on the first drawing, not with the worlds

        index, size = self._check_frame(index, size)
        return draw_arena_frame(self.config, self.state, index, size)

    # -- Changing the task ------------------------------------------------------------------
    def set_target(self, colour, swap_berries: bool = False) -> dict[str, torch.Tensor]:
        """Make `colour` the paying colour of every world, from the next step to the episode's end.

        colour: an int, or an (N,) int64 tensor on any device (one colour per world), a palette
        index in [0, 5]; on ReversalBerry one of `reversal_colours`. With swap_berries=True the
        berries of each world's old and new target colour trade colours, so the field keeps its
        numbers of targets and distractors (`envs.world.set_target`). Setting itself needs no host
        sync; checking a tensor's values costs one, skipped with `validate_actions=False` (a world
        given a colour outside the allowed ones then keeps its target). Returns the observation
        {"image", "goal"} redrawn from the changed state.
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
            if colour.device.type == "meta":
                raise TypeError(f"colour is a tensor on the meta device, which holds no values; allowed: {text}")
            colour = colour.to(self.device)
            valid = torch.isin(colour, torch.tensor(allowed, device=self.device))
            if self.validate_actions and not bool(valid.all()):  # the one host sync
                raise ValueError(f"colour holds {colour[~valid][:4].tolist()}; allowed: {text}")
            colour = torch.where(valid, colour, self.state.target_colour)
        elif isinstance(colour, (int, np.integer)) and not isinstance(colour, bool) and int(colour) in allowed:
            colour = torch.full((self.num_envs,), int(colour), dtype=torch.int64, device=self.device)
        else:
            raise ValueError(f"colour={colour!r}; allowed: {text}")
        with self._one_thread("set_target"):
            self.state = world.set_target(self.state, colour, bool(swap_berries))
            return self._observe()

    # -- What the worlds show (for attention measures) ---------------------------------------
    def target_mask(self, distractors: bool = False) -> torch.Tensor:
        """(N, H, W) bool: the pixels of the current observation that show a berry of each world's
        paying colour (with distractors=True: a berry of any other colour): `envs.world.target_mask`
        of the state and its label map, so foliage over a berry hides it and noise or illumination
        do not matter. No host sync."""
        return world.target_mask(self.state, self.retina.label_map(self.state), distractors)

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


def make_vector_env(num_envs: int = 1, **kwargs) -> BerryVectorEnv:
    """The `vector_entry_point` of the registered ids."""
    return BerryVectorEnv(num_envs=num_envs, **kwargs)
