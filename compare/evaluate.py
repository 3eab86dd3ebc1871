"""Batched evaluation: every world of a cell runs one episode, all stepped together on the device.

A cell's W worlds (`Plan.eval_worlds`) start together from the condition's seed, so every agent,
lesion and T of a condition meets the same W worlds, and the reference foragers
(`REFERENCE_KINDS`: random, scripted, and one that turns on the spot) meet them too. Each world
runs exactly one episode of `Plan.episode_steps` steps; actions are sampled from the policy (as in
training) with a generator seeded by the condition, so a cell's numbers are the same whichever
process computes them, in whatever order.

Per cell: the mean episodic return and its standard error over the W episodes, targets and
distractors eaten, the precision (targets / berries eaten, pooled over episodes), the steps to the
first target (censored at the episode's length where no target was eaten) and the share of
episodes that found one; the same search measured clean, so that eating through distractors does
not shorten it: the steps to a first target eaten before any distractor (censored where a
distractor came first, at the same step included, or no target came), the share of episodes with
such a clean find, and the share where a distractor came first; for agents with feedback, the
feature-similarity gain toward the cued colour (before and after a cue change) and the spatial
attention index; on ReversalBerry, the reversal curve and win-stay / lose-shift, P(stay | win) and
P(stay | loss) (`compare.measures`).

The goal lesion is made here, on the observation (`wrong_goal`): each world is shown the colour of
berries present in its field that do not pay, chosen by a per-world order drawn from the
condition's seed, so the wrong cue always names something the agent can see.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import gymnasium as gym
import torch

import agents
import envs  # registers the tasks
from agents.actor_critic import INPUT_LESIONS
from agents.probe import colour_tuning, spatial_index, spatial_sums
from agents.runner import Carry, env_action, sample
from compare.grid import CONDITIONS, EvalCell, Plan, Unit, condition_seed, world_kwargs_for
from compare.measures import FeatureGainRecorder, ReversalCurve
from envs.config import NUM_COLOURS
from envs.policies import TURN_LEFT
from envs.world import DISCRETE_ACTIONS

# The reference foragers of every reference cell: uniform random actions, the scripted forager (reads
# the true state), and `still`, which turns on the spot every step: it eats only what grows where it
# stands, so a score that does not beat it rewards doing nothing (DESIGN.md, "A fair comparison").
REFERENCE_KINDS = ("random", "scripted", "still")


@dataclass(frozen=True)
class EnvSpec:
    """The worlds of one condition for one unit: what a reference cell is keyed by."""

    condition: str
    env_id: str
    kwargs: tuple[tuple[str, Any], ...]  # gym.make_vec keywords, sorted; max_episode_steps included
    cue_change: bool
    worlds: int
    seed: int

    @property
    def steps(self) -> int:
        return int(dict(self.kwargs)["max_episode_steps"])

    @property
    def key(self) -> str:
        text = json.dumps([self.env_id, self.kwargs, self.cue_change, self.worlds, self.seed], default=str)
        return f"{self.env_id}__{self.condition}__{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def env_spec(unit: Unit, condition: str, plan: Plan) -> EnvSpec:
    env_id, kwargs = world_kwargs_for(unit, CONDITIONS[condition], plan.episode_steps)
    return EnvSpec(condition, env_id, tuple(sorted(kwargs.items())), CONDITIONS[condition].cue_change,
                   plan.eval_worlds, condition_seed(condition))


def make_env(spec: EnvSpec, device: torch.device):
    # The policies' actions are valid by construction; copy=False: the agent reads each image
    # before the next step overwrites it.
    return gym.make_vec(spec.env_id, num_envs=spec.worlds, device=str(device), copy=False,
                        validate_actions=False, **dict(spec.kwargs))


class AgentPolicy:
    """A trained agent acting in N worlds. `gains` (a `measures.FeatureGainRecorder`) sees its channel gains,
    `spatial` its spatial gain against the target mask; `wrong_goal` makes the goal lesion."""

    def __init__(self, agent, gains: Optional[FeatureGainRecorder] = None, spatial: bool = False, wrong_goal: bool = False):
        self.agent = agent
        self.gains = gains
        self.spatial = spatial
        self.wrong_goal = wrong_goal

    def start(self, world, generator: torch.Generator) -> None:
        self.generator = generator
        self.carry = Carry.start(self.agent, world.num_envs, world.device)
        self.spatial_sums = torch.zeros(2, 4, dtype=torch.float64, device=world.device)  # targets, distractors
        self.first_cue = None
        self.wrong, self.wrong_phase = None, None
        if self.wrong_goal:  # its own stream, after the actions' draws: the same order for every agent
            order = torch.Generator(device=world.device).manual_seed(generator.initial_seed() + 2)
            self.order = torch.rand(world.num_envs, NUM_COLOURS, generator=order, device=world.device).argsort(1)

    def act(self, obs, world, phase: Optional[str] = None) -> torch.Tensor:
        """phase: None, or "before" / "after" a cue change (the feature-similarity gain is also kept per phase)."""
        if self.wrong_goal:  # chosen at the episode's start and again after a cue change, then held
            if self.wrong is None or phase != self.wrong_phase:
                self.wrong, self.wrong_phase = wrong_goal(world, self.order, obs["goal"]), phase
            obs = {**obs, "goal": self.wrong}
        self.out = self.carry.act(self.agent, obs)
        if self.gains is not None:
            goal = obs["goal"]
            cue = torch.where(goal.any(1), goal.argmax(1), -1)  # (N,) the cued colour, -1 where hidden
            self.gains.record(self.out.internals, cue, ("", phase) if phase else ("",))
            if phase == "before":
                self.first_cue = cue
            elif phase == "after":
                self.gains.record(self.out.internals, self.first_cue, ("after_old_cue",))
        if self.spatial:
            gain = self.out.internals["spatial_gain"]
            self.spatial_sums += torch.stack([spatial_sums(gain, world.target_mask(other)) for other in (False, True)])
        self.action = sample(self.out.dist, self.generator)
        return env_action(self.action)

    def observe(self, reward: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor) -> None:
        self.carry = self.carry.advance(self.out, self.action, reward, terminated, truncated)

    def result(self) -> dict[str, float]:
        out = {} if self.gains is None else self.gains.result()
        if self.spatial:
            targets, distractors = self.spatial_sums.tolist()
            out["spatial_index"], out["spatial_index_distractor"] = spatial_index(targets), spatial_index(distractors)
        return out


def wrong_goal(world, order: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """The goal lesion's cue (N, P): the one-hot of `world.distractor_colour(order)`, a colour with
    berries present in the field that does not pay; all zeros where `goal` is (a hidden cue stays hidden)."""
    wrong = torch.nn.functional.one_hot(world.distractor_colour(order), NUM_COLOURS).to(goal.dtype)
    return wrong * goal.any(1, keepdim=True)


class ReferencePolicy:
    """One of the reference foragers, `REFERENCE_KINDS`."""

    def __init__(self, kind: str):
        if kind not in REFERENCE_KINDS:
            raise ValueError(f"kind={kind!r} must be one of {REFERENCE_KINDS}")
        self.kind = kind

    def start(self, world, generator: torch.Generator) -> None:
        self.generator = generator
        if self.kind == "still":  # turn left: no linear velocity (Discrete action 1, or the pair (0, 1))
            if world.config.action_type == "discrete":
                self.still = torch.full((world.num_envs,), TURN_LEFT, dtype=torch.int64, device=world.device)
            else:
                self.still = torch.tensor(DISCRETE_ACTIONS[TURN_LEFT], device=world.device).repeat(world.num_envs, 1)

    def act(self, obs, world, phase: Optional[str] = None) -> torch.Tensor:
        if self.kind == "scripted":
            return envs.scripted_actions(world)
        if self.kind == "still":
            return self.still
        return envs.random_actions(world, self.generator)

    def observe(self, reward: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor) -> None:
        pass

    def result(self) -> dict[str, float]:
        return {}


def change_cue(world, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Make another colour the target in every world: c -> c' = c + k (mod P), k uniform in
    1..P-1. Berries of c and c' trade colours (`set_target(..., swap_berries=True)`), so the field
    keeps its number of targets and distractors and only which colour pays (and what the goal says)
    changes. Returns the observation redrawn from the changed state."""
    old = world.state.target_colour  # (N,)
    shift = torch.randint(1, NUM_COLOURS, old.shape, generator=generator, device=old.device)
    return world.set_target((old + shift) % NUM_COLOURS, swap_berries=True)


@torch.no_grad()
def run_episodes(env, spec: EnvSpec, policy) -> dict[str, float]:
    """One episode in each of the env's worlds under `policy`; returns the cell's metrics."""
    world = env.unwrapped
    device = world.device
    actions = torch.Generator(device=device)
    actions.manual_seed(spec.seed)
    cue = torch.Generator(device=device)  # its own stream: the change is the same for every policy
    cue.manual_seed(spec.seed + 1)
    obs, _ = env.reset(seed=spec.seed)
    policy.start(world, actions)
    n, steps = world.num_envs, spec.steps
    first_target = torch.full((n,), float(steps), device=device)  # censored at the episode's length
    found = torch.zeros(n, dtype=torch.bool, device=device)
    clean_first_target = first_target.clone()  # the same, where no distractor came first
    clean_found = torch.zeros_like(found)  # a target eaten before any distractor
    distractor_first = torch.zeros_like(found)  # a distractor eaten before the first target, or with it
    spoiled = torch.zeros_like(found)  # a distractor eaten so far
    change_at = steps // 2 if spec.cue_change else None
    reversal = ReversalCurve(n, device, world.config.reversal_colours) if world.config.task == "reversal" else None
    info = {}
    for t in range(steps):
        if t == change_at:
            obs = change_cue(world, cue)
        phase = None if change_at is None else ("before" if t < change_at else "after")
        action = policy.act(obs, world, phase)
        if reversal is not None:
            reversal.before_step(world.state.target_colour)
        obs, reward, terminated, truncated, info = env.step(action)
        policy.observe(reward, terminated, truncated)
        if reversal is not None:
            reversal.after_step(world.state.target_colour, info)
        hit, miss = info["target_eaten"] > 0, info["distractor_eaten"] > 0
        first_target = torch.where(hit & ~found, float(t + 1), first_target)
        clean = hit & ~found & ~spoiled & ~miss
        clean_first_target = torch.where(clean, float(t + 1), clean_first_target)
        clean_found |= clean
        distractor_first |= miss & ~found
        found |= hit
        spoiled |= miss
    if not bool(info["_forage"].all()):
        raise RuntimeError(f"{spec.env_id}: not every world ended its episode after {steps} steps")
    episode = info["forage"]
    returns = episode["r"].double()
    targets, distractors = episode["target_eaten"].double(), episode["distractor_eaten"].double()
    eaten = float((targets + distractors).sum())
    measured = {**policy.result(), **(reversal.result() if reversal is not None else {})}
    return {
        "episodes": n,
        "return_mean": float(returns.mean()),
        "return_se": float(returns.std() / math.sqrt(n)) if n > 1 else math.nan,
        "target_eaten": float(targets.mean()),
        "distractor_eaten": float(distractors.mean()),
        "precision": float(targets.sum()) / eaten if eaten > 0 else math.nan,
        "steps_to_first_target": float(first_target.double().mean()),
        "found_share": float(found.double().mean()),
        "clean_steps_to_first_target": float(clean_first_target.double().mean()),
        "clean_found_share": float(clean_found.double().mean()),
        "distractor_first_share": float(distractor_first.double().mean()),
        **measured,
    }


def evaluate_reference(spec: EnvSpec, device: torch.device) -> dict[str, dict[str, float]]:
    """Every reference forager on a condition's worlds: {"random": ..., "scripted": ..., "still": ...}."""
    env = make_env(spec, device)
    try:
        return {kind: run_episodes(env, spec, ReferencePolicy(kind)) for kind in REFERENCE_KINDS}
    finally:
        env.close()


def load_agent(payload: dict, env, passes: Optional[int] = None, lesion: Optional[str] = None,
               untrained_seed: Optional[int] = None):
    """The checkpoint's agent for `env`'s spaces, with T = `passes` (None: as trained) and `lesion`
    (one made inside the agent; the goal lesion is the policy's, `AgentPolicy(wrong_goal=True)`).
    `untrained_seed`: the same agent with its initial weights from that seed instead of the trained ones."""
    config = json.loads(payload["agent_config"])
    if passes is not None:
        config["passes"] = passes
    if untrained_seed is not None:
        torch.manual_seed(untrained_seed)
    agent = agents.agent_from_config(config, env.single_observation_space, env.single_action_space,
                                     gamma=json.loads(payload["config"])["gamma"])  # the run's discount
    if untrained_seed is None:
        agent.load_state_dict(payload["model"])
    agent.to(env.unwrapped.device)
    agent.eval()
    agent.set_lesion(lesion)
    return agent


def evaluate_cell(cell: EvalCell, plan: Plan, payload: dict, device: torch.device) -> dict[str, float]:
    """One evaluation cell: the unit's agent (from its checkpoint `payload`) in the cell's
    condition, lesion and T. Agents with feedback also get the feature-similarity gain and the spatial index."""
    spec = env_spec(cell.unit, cell.condition, plan)
    env = make_env(spec, device)
    try:
        lesion = None if cell.lesion == "none" else cell.lesion
        inside = None if lesion in INPUT_LESIONS or lesion == "untrained" else lesion
        agent = load_agent(payload, env, cell.passes, inside, cell.unit.seed if lesion == "untrained" else None)
        tuning = colour_tuning(agent, env.unwrapped.config) if agent.feedback is not None else {}
        gains = FeatureGainRecorder(tuning, device) if tuning else None
        policy = AgentPolicy(agent, gains, spatial=agent.feedback is not None, wrong_goal=lesion == "goal")
        metrics = run_episodes(env, spec, policy)
        metrics["passes"] = agent.config.passes
        return metrics
    finally:
        env.close()
