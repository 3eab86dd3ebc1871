"""The actor-critic: vision -> core -> (plastic layer) -> policy and value heads, one class for every preset.

One step, for a batch of N environments:

    x        = image / 255                                  (N, 3, H, W)
               [x, goal planes]                             goal_pathway="early": (N, 3 + P, H, W)
    for k = 1..T:                                           T = config.passes
        gains_k = TopDownGain(goal, h(t-1), top_{k-1})      feedback; top_0 = top of step t-1
        top_k   = Top(ConvTrunk(x, gains_k), gates)         gates = what/where gates(goal, h(t-1))
    c(t)     = Core([top_T, goal, r(t-1), a(t-1)], h(t-1))  goal after the trunk; the previous reward and
                                                            action (reward_input, action_input; meta-RL)
    y(t)     = PlasticLayer(c(t), Hebb)                     dopamine: Hebb written by delta(t-1)
    pi(a|.)  = Categorical(W_pi y) or Normal(W_pi y, exp(log_std));   V(t) = W_v y

In code a step is ``heads(advance(encode(obs), ...))``: `encode` is what needs no state (the trunk, or
conv1 alone under top-down gain), `advance` what does (the gains and the trunk above conv1, the core, the
plastic layer), `heads` the policy and value heads. PPO's replay runs `encode` and `heads` once over all
T x B steps of a minibatch and steps only `advance` through time.

This module wires the mechanisms; each one's step, its equations and its lesion are in its module:
``agents.feedback`` (the T passes), ``agents.whatwhere`` (the gates), ``agents.plastic`` (the modulator and
the order of read and write), ``agents.core``, ``agents.vision``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from agents.config import AgentConfig
from agents.core import Core
from agents.feedback import TopDownGain
from agents.init import layer_init
from agents.plastic import PlasticLayer
from agents.vision import ConvTrunk, FlatTop, to_float_image
from agents.whatwhere import WhatWhere

LESIONS = (None, "feedback", "goal", "plasticity", "what", "where", "feedback_goal", "feedback_core", "feedback_top")
CUTS = {"feedback_goal": "goal", "feedback_core": "core", "feedback_top": "top"}  # lesions of one top-down input
INPUT_LESIONS = ("goal",)  # made on the observation by whoever feeds the agent, not by `Agent.set_lesion`


class Encoded(NamedTuple):
    """What `Agent.encode` computes from observations alone; every tensor has the batch as dim 0."""

    goal: torch.Tensor  # (N, P) float
    first: Optional[torch.Tensor] = None  # (N, C0, h0, w0) conv1's bottom-up output (top-down gain)
    bottom_up: Optional[torch.Tensor] = None  # (N, D) the top features, or the ungated what/where streams

    def map(self, fn) -> "Encoded":
        """The same fields with ``fn`` applied to each tensor (reshape, index, ...)."""
        return Encoded(*(None if value is None else fn(value) for value in self))

    def unbind(self) -> list["Encoded"]:
        """Fields shaped (T, B, ...) -> T of (B, ...). One unbind, whose backward stacks the T gradients
        once, where T separate ``x[t]`` would each scatter into a zero tensor of the full (T, B, ...) size."""
        parts = [None if value is None else value.unbind(0) for value in self]
        steps = len(next(p for p in parts if p is not None))
        return [Encoded(*(None if p is None else p[t] for p in parts)) for t in range(steps)]


class Advanced(NamedTuple):
    """What `Agent.advance` computes: the part of a step that depends on the agent's state, up to the heads."""

    policy_in: torch.Tensor  # (N, head_in) what the actor reads
    critic_in: Optional[torch.Tensor]  # (N, head_in) what the critic reads, where `value` is None
    value: Optional[torch.Tensor]  # (N,) V(t) where the step needs it itself (the plastic layer's TD error)
    state: dict[str, torch.Tensor]  # next state
    internals: dict[str, torch.Tensor]

    @staticmethod
    def cat(parts: list["Advanced"]) -> "Advanced":
        """T steps' outputs joined along the batch, (T x B, ...), for one `Agent.heads` call; no state."""
        first = parts[0]
        joined = [None if value is None else torch.cat([getattr(p, name) for p in parts])
                  for name, value in zip(("policy_in", "critic_in", "value"), first[:3])]
        return Advanced(*joined, {}, {})


class AgentOutput(NamedTuple):
    """What one step of an agent returns."""

    dist: Distribution  # batched action distribution: Categorical or Independent(Normal)
    value: torch.Tensor  # (N,) V(t)
    state: dict[str, torch.Tensor]  # next state, same keys and shapes as the input state
    internals: dict[str, torch.Tensor]  # detached mechanism signals, for logging and drawing


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> tuple[int, int, int, int, bool]:
    """Validates the single-env spaces; returns (H, W, P, action size, discrete)."""
    if not isinstance(observation_space, gym.spaces.Dict):
        raise TypeError(f"observation_space must be a gymnasium.spaces.Dict, got {type(observation_space).__name__}")
    keys = set(observation_space.spaces)
    if keys != {"image", "goal"}:
        raise ValueError(f"observation_space must have exactly the keys ['goal', 'image'], got {sorted(keys)}")
    image, goal = observation_space["image"], observation_space["goal"]
    if not (isinstance(image, gym.spaces.Box) and image.dtype == np.uint8 and len(image.shape) == 3 and image.shape[2] == 3):
        raise ValueError(f"observation_space['image'] must be a uint8 Box of shape (H, W, 3), got {image!r}")
    if not (isinstance(goal, gym.spaces.Box) and len(goal.shape) == 1):
        raise ValueError(f"observation_space['goal'] must be a Box of shape (P,), got {goal!r}")
    if isinstance(action_space, gym.spaces.Discrete):
        size, discrete = int(action_space.n), True
    elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        size, discrete = int(action_space.shape[0]), False
    else:
        raise TypeError(f"action_space must be a gymnasium Discrete or a 1-D Box, got {action_space!r}")
    return int(image.shape[0]), int(image.shape[1]), int(goal.shape[0]), size, discrete


class Agent(nn.Module):
    """An actor-critic built from an ``AgentConfig``; see the module doc for the step.

    Lesions (``set_lesion``), applied at evaluation time without retraining:

    - ``"feedback"``: the top-down gains are fixed at 1 (channel and spatial), so the trunk is
      bottom-up only; the what/where gates are not touched. Internals report the ones.
    - ``"plasticity"``: the Hebbian trace is frozen, never written, so after a reset it stays 0.
    - ``"what"`` / ``"where"``: the what (ventral) or where (dorsal) gate is held at 0, so that
      stream passes nothing up; internals report the held gate.
    - ``"feedback_goal"`` / ``"feedback_core"`` / ``"feedback_top"``: one input of the top-down signal is
      zeroed (the goal in z and in the template, h(t-1), or the previous pass's top features); the rest
      of the agent reads what it always reads. Which input an agent's gains use is what they say.
    - ``None``: no lesion.

    Each lesion is its mechanism's own switch (`TopDownGain.cut`, `WhatWhere.held`, `PlasticLayer.frozen`),
    which ``set_lesion`` sets. A lesion on a preset that lacks the mechanism is allowed and changes nothing.

    ``gamma`` is the discount of the dopamine TD error: the run's own (the trainer passes its ``--gamma``,
    the one its GAE uses). It is not part of the architecture, so it is not in ``AgentConfig``.

    The ``"goal"`` lesion (a wrong cue) is in ``LESIONS`` but is made on the input, not here: the
    agent reads the goal it is given, and only the world knows which wrong colour is a fair one (a
    colour present in the field, not an absent neighbour hue). `compare.evaluate` replaces
    ``obs["goal"]`` with the one-hot of ``BerryVectorEnv.distractor_colour``; ``set_lesion("goal")``
    raises, so that no caller believes it lesioned the goal when it did not.
    """

    def __init__(self, config: AgentConfig, observation_space: gym.Space, action_space: gym.Space, gamma: float):
        super().__init__()
        height, width, goal_size, action_size, discrete = check_spaces(observation_space, action_space)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma (the discount of the TD error) must be a number in [0, 1], got {gamma!r}")
        self.config = config
        self._gamma = float(gamma)
        self.image_shape = (height, width, 3)
        self.goal_size = goal_size
        self.discrete = discrete
        self.action_size = action_size
        self.lesion: Optional[str] = None
        cfg = config
        recurrent = cfg.core == "gru"
        shared = cfg.channels[:-1] if cfg.whatwhere else cfg.channels
        planes = goal_size if cfg.goal_pathway == "early" else 0  # early fusion: P goal planes beside RGB
        self.trunk = ConvTrunk(3 + planes, shared, cfg.strides[: len(shared)])
        if cfg.whatwhere:
            gate_in = goal_size + (cfg.hidden if recurrent else 0)
            self.top = WhatWhere(shared[-1], cfg.what_channels, cfg.keypoints, cfg.strides[-1], gate_in, cfg.embed)
        else:
            self.top = FlatTop(cfg.channels[-1], cfg.grid, cfg.embed)
        self.feedback = None
        if cfg.feedback:
            reads = tuple(name for name in cfg.top_down_inputs.split("+") if name != "core" or recurrent)
            z_in = sum({"goal": goal_size, "core": cfg.hidden, "top": cfg.embed}[name] for name in reads)
            self.feedback = TopDownGain(
                z_in, shared[: cfg.gain_layers], cfg.top_down, cfg.gain_strength, cfg.spatial_strength,
                goal_size, cfg.goal_template, reads, cfg.passes,
            )
        core_in = cfg.embed + goal_size + int(cfg.reward_input) + (action_size if cfg.action_input else 0)
        self.core = Core(cfg.core, core_in, cfg.hidden)
        self.plastic = None
        head_in = cfg.hidden
        if cfg.plastic:
            self.plastic = PlasticLayer(cfg.hidden, cfg.plastic_size, cfg.modulator, cfg.hebb_clip, self._gamma)
            head_in = cfg.plastic_size
        self.actor = layer_init(nn.Linear(head_in, action_size), std=0.01)
        self.critic = layer_init(nn.Linear(head_in, 1), std=1.0)
        self.log_std = None if discrete else nn.Parameter(torch.zeros(action_size))

    # -- interface -----------------------------------------------------------------------------

    @property
    def gamma(self) -> float:
        """The discount of the dopamine TD error, as built (read-only: the plastic layer holds it too)."""
        return self._gamma

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """Zero state for ``batch_size`` environments; every tensor has the batch as dim 0.

        Keys: "h" (N, hidden) GRU state; "top" (N, embed) top features of the last pass
        (feedback); "hebb" and "eligibility" (N, plastic_size, hidden) and "prev_value" (N,)
        (plastic). A preset with none of these (feedforward) returns {}.
        """
        if device is None:
            device = self.critic.weight.device
        return {key: torch.zeros(batch_size, *shape, device=device) for key, shape in self.state_shapes().items()}

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each state key and its per-environment shape (the batch dim left out)."""
        cfg = self.config
        shapes: dict[str, tuple[int, ...]] = {}
        if cfg.core == "gru":
            shapes["h"] = (cfg.hidden,)
        if cfg.feedback:
            shapes["top"] = (cfg.embed,)
        if cfg.plastic:
            shapes["hebb"] = (cfg.plastic_size, cfg.hidden)
            shapes["eligibility"] = (cfg.plastic_size, cfg.hidden)
            shapes["prev_value"] = ()
        return shapes

    def set_lesion(self, name: Optional[str]) -> None:
        """Switches a lesion on (see the class doc) or off (None)."""
        if name not in LESIONS:
            raise ValueError(f"lesion must be one of {list(LESIONS)}, got {name!r}")
        if name in INPUT_LESIONS:
            raise ValueError(f"lesion {name!r} is made on the observation, not the agent: give the agent a wrong "
                             f"obs['goal'] (compare.evaluate.wrong_goal); allowed here: "
                             f"{[n for n in LESIONS if n not in INPUT_LESIONS]}")
        self.lesion = name
        if self.feedback is not None:
            self.feedback.cut = "all" if name == "feedback" else CUTS.get(name)
        if self.config.whatwhere:
            self.top.held = {"what": 0, "where": 1}.get(name)
        if self.plastic is not None:
            self.plastic.frozen = name == "plasticity"

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(
        self,
        obs: dict[str, torch.Tensor],
        state: dict[str, torch.Tensor],
        episode_start: torch.Tensor,
        prev_reward: Optional[torch.Tensor] = None,
        prev_action: Optional[torch.Tensor] = None,
    ) -> AgentOutput:
        """One step for N environments: ``heads(advance(encode(obs), ...))``.

        obs: {"image": uint8 (N, H, W, 3), "goal": float32 (N, P)} from the vector env.
        state: from ``initial_state`` or the previous step's ``out.state``.
        episode_start: bool (N,), True where ``obs`` is the first observation of an episode; the
            state of those rows (memory, previous top features, Hebbian and eligibility traces,
            stored value) is reset to zero before it is used.
        prev_reward: float32 (N,), the env reward of the transition that led to ``obs`` (0 where
            episode_start); the core reads it (``reward_input``), and the plastic layer (the
            dopamine TD error, or the learned modulator's input). None means zeros.
        prev_action: the action taken on the previous observation, as sampled: long (N,) for
            Discrete, float (N, A) for Box; the core reads it (``action_input``), zeroed where
            episode_start. None means zeros.
        """
        advanced = self.advance(self.encode(obs), state, episode_start, prev_reward, prev_action)
        dist, value = self.heads(advanced)
        return AgentOutput(dist, value, advanced.state, advanced.internals)

    def encode(self, obs: dict[str, torch.Tensor]) -> Encoded:
        """The part of a step that does not depend on the agent's state, for any batch of observations.

        PPO's replay runs it once over all T x B frames of a minibatch (as CleanRL runs its CNN over
        T x B and only the LSTM step by step), then `advance` per time step. Without top-down gain the
        whole bottom-up pathway is here (the trunk, and the flat top or the ungated what/where
        streams); with it only conv1, whose output no gain touches (the gains act on it after).
        """
        cfg = self.config
        goal = obs["goal"].to(torch.float32)  # (N, P)
        image = to_float_image(obs["image"])  # (N, 3, H, W)
        # early fusion: P constant goal planes beside RGB at conv1, a goal-dependent bias
        first = self.trunk.first_layer(image, goal if cfg.goal_pathway == "early" else None)  # (N, C0, h0, w0)
        if cfg.feedback:
            return Encoded(goal, first)
        feature_map = self.trunk(first)
        bottom_up = self.top.streams(feature_map) if cfg.whatwhere else self.top(feature_map)
        return Encoded(goal, bottom_up=bottom_up)

    def heads(self, advanced: Advanced) -> tuple[Distribution, torch.Tensor]:
        """The action distribution and V(t) from `advance`'s output, for any batch: nothing here depends
        on the state, so PPO's replay runs it once over all T x B steps of a minibatch (`Advanced.cat`)."""
        value = self.value_of(advanced.critic_in) if advanced.value is None else advanced.value
        logits = self.actor(advanced.policy_in)
        if self.discrete:
            return Categorical(logits=logits, validate_args=False), value
        std = self.log_std.exp().expand_as(logits)
        return Independent(Normal(logits, std, validate_args=False), 1, validate_args=False), value

    def value_of(self, features: torch.Tensor) -> torch.Tensor:
        """The critic: V = W_v y + b_v, (N,) from what it reads (N, head_in)."""
        return self.critic(features)[:, 0]

    def advance(
        self,
        encoded: Encoded,
        state: dict[str, torch.Tensor],
        episode_start: torch.Tensor,
        prev_reward: Optional[torch.Tensor] = None,
        prev_action: Optional[torch.Tensor] = None,
    ) -> Advanced:
        """The part of a step that depends on the agent's state: gains, trunk above conv1 (top-down
        gain), core and plastic layer, up to what the heads read; arguments as `forward`."""
        cfg = self.config
        goal = encoded.goal  # (N, P)
        keep = 1.0 - episode_start.to(goal.dtype)  # (N,) 0 where the episode starts
        internals: dict[str, torch.Tensor] = {}
        next_state: dict[str, torch.Tensor] = {}
        h = state["h"] * keep[:, None] if cfg.core == "gru" else None  # h(t-1), (N, hidden)

        gates = self.top.gates(goal, h) if cfg.whatwhere else None  # (N, 2); a lesion holds one at 0
        if not cfg.feedback:
            top = self.top(encoded.bottom_up, gates) if cfg.whatwhere else encoded.bottom_up  # (N, embed)
        else:  # T passes through the trunk above conv1, each under the gains of the one before
            top, gains = self.feedback.iterate(lambda gains: self._top(self.trunk(encoded.first, gains), gates),
                                               goal, h, state["top"] * keep[:, None])
            next_state["top"] = top
            internals.update(self.feedback.report(gains, encoded.first))
        if gates is not None:
            internals["gates"] = gates.detach()

        n = goal.shape[0]
        reward = goal.new_zeros(n) if prev_reward is None else prev_reward.to(goal.dtype)  # r(t-1), (N,)
        core_in = [top, goal]
        if cfg.reward_input:  # 0 at an episode start (the reset step pays nothing; keep makes sure)
            core_in.append((reward * keep)[:, None])
        if cfg.action_input:
            core_in.append(self._action_code(prev_action, n, goal) * keep[:, None])  # a(t-1), (N, A)
        features = self.core(torch.cat(core_in, dim=1), h)  # (N, hidden)
        if cfg.core == "gru":
            next_state["h"] = features

        next_state_order = self.state_shapes()  # initial_state's order
        if self.plastic is None:
            return Advanced(features, features, None, {key: next_state[key] for key in next_state_order}, internals)
        plastic = self.plastic.step(features, state, keep, reward, self.value_of)
        next_state.update(plastic.state)
        internals.update(plastic.internals)
        return Advanced(plastic.y, None, plastic.value, {key: next_state[key] for key in next_state_order}, internals)

    def _top(self, feature_map: torch.Tensor, gates: Optional[torch.Tensor]) -> torch.Tensor:
        """The top features (N, embed) of the trunk's top map: the gated what/where streams, or the flat top."""
        return self.top(self.top.streams(feature_map), gates) if self.config.whatwhere else self.top(feature_map)

    def _action_code(self, action: Optional[torch.Tensor], n: int, like: torch.Tensor) -> torch.Tensor:
        """(N, A) float: the one-hot of a Discrete action, a Box action as it is, zeros for None."""
        if action is None:
            return like.new_zeros(n, self.action_size)
        if self.discrete:  # a one-hot by comparison: F.one_hot checks its range on the host, a sync on the CPU
            return (action.long()[:, None] == torch.arange(self.action_size, device=action.device)).to(like.dtype)
        return action.to(like.dtype)
