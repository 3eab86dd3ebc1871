"""Stepping an agent through a vector env with next-step autoreset: the carry and its rules, once.

Under Gymnasium's ``AutoresetMode.NEXT_STEP`` an episode's final observation is returned by the
step that ends it, and the *next* step ignores its action and returns the first observation of a
new episode (with reward 0). A recurrent agent therefore carries four things from one step to
the next (dm_env's ``TimeStep``, seen from the agent's side):

    state          its memory (GRU h, the last pass's top features, Hebbian traces, ...)
    episode_start  obs is the first observation of an episode: the agent zeroes that row's state
    valid          obs is not a final observation; an action taken on a final one only resets
    prev_reward    the reward of the transition into obs (0 at an episode start)
    prev_action    the action taken on the previous observation (the agent zeroes it at an episode
                   start, where it was the ignored action on the last episode's final observation)

and the rules, applied after every ``env.step``, are

    episode_start(t+1) = not valid(t)          the step after a final observation reset the world
    valid(t+1)         = not (terminated(t+1) or truncated(t+1))
    prev_reward(t+1)   = reward(t+1)
    prev_action(t+1)   = action(t)
    state(t+1)         = the agent's output state

The trainer, the video recorder, the viewer and the evaluator all step agents with `Carry`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import torch
from torch.distributions import Categorical, Distribution

from agents.actor_critic import Agent, AgentOutput


@dataclass
class Carry:
    """What an agent carries between steps of N environments; every tensor is batch-first."""

    state: dict[str, torch.Tensor]  # agent.state_shapes(), each (N, ...)
    episode_start: torch.Tensor  # (N,) bool
    valid: torch.Tensor  # (N,) bool
    prev_reward: torch.Tensor  # (N,) float32
    prev_action: torch.Tensor  # (N,) long (Discrete) or (N, A) float (Box), as sampled

    @classmethod
    def start(cls, agent: Agent, num_envs: int, device: torch.device | str) -> "Carry":
        """The carry for the first observations after ``env.reset()``: every row starts an episode."""
        return cls(
            state=agent.initial_state(num_envs, device=device),
            episode_start=torch.ones(num_envs, dtype=torch.bool, device=device),
            valid=torch.ones(num_envs, dtype=torch.bool, device=device),
            prev_reward=torch.zeros(num_envs, device=device),
            prev_action=no_action(agent, num_envs, device),
        )

    def act(self, agent: Agent, obs: dict[str, torch.Tensor]) -> AgentOutput:
        """One forward step of ``agent`` on ``obs`` from this carry."""
        return agent(obs, self.state, self.episode_start, self.prev_reward, self.prev_action)

    def advance(self, out: AgentOutput, action: torch.Tensor, reward: torch.Tensor, terminated: torch.Tensor,
                truncated: torch.Tensor) -> "Carry":
        """The carry for the observation that ``env.step`` returned after ``out``'s sampled ``action``."""
        return Carry(state=out.state, episode_start=~self.valid, valid=~(terminated | truncated),
                     prev_reward=reward.to(torch.float32), prev_action=action)

    def as_dict(self) -> dict:
        """Plain dict (for checkpoints): {"state", "episode_start", "valid", "prev_reward", "prev_action"}."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict, agent: Agent) -> "Carry":
        """The inverse of `as_dict`; a carry saved before ``prev_action`` existed gets no previous action
        (its agent, made before the core read one, ignores it)."""
        values = dict(values)
        if "prev_action" not in values:
            values["prev_action"] = no_action(agent, values["valid"].shape[0], values["valid"].device)
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def no_action(agent: Agent, num_envs: int, device: torch.device | str) -> torch.Tensor:
    """Zeros shaped and typed like a batch of the agent's sampled actions: (N,) long or (N, A) float."""
    if agent.discrete:
        return torch.zeros(num_envs, dtype=torch.long, device=device)
    return torch.zeros(num_envs, agent.action_size, device=device)


def env_action(action: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """The action the env receives: continuous samples clipped to the box [low, high] (the unclipped
    sample is what PPO's loss sees, as in CleanRL); discrete actions pass unchanged."""
    return action.clamp(low, high) if action.is_floating_point() else action


def sample(dist: Distribution, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A sample of the policy's action distribution, from ``generator`` when given (else torch's global
    RNG; with a generator the global RNG is left alone). Continuous samples are returned unclipped; see
    `env_action`. No host sync (`categorical_sample`)."""
    if isinstance(dist, Categorical):
        return categorical_sample(dist.probs, generator)
    if generator is None:
        return dist.sample()
    normal = dist.base_dist
    noise = torch.randn(normal.loc.shape, generator=generator, device=normal.loc.device)
    return normal.loc + normal.scale * noise


def categorical_sample(probs: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One draw per row of ``probs`` (N, A): argmax(probs / q) with q ~ Exp(1) (the Gumbel-max trick,
    exponentiated). This is exactly what ``torch.multinomial(probs, 1)`` computes on its one-draw path,
    from the same generator (so the draws are the same), without its checks of the values, which read
    them back to the host: a sync on every step on a GPU. The probabilities of a softmax need no check."""
    q = torch.empty_like(probs).exponential_(1, generator=generator)
    return (probs / q).argmax(-1)
