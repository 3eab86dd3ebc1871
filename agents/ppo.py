"""Recurrent PPO on device-resident rollouts: storage, GAE and the clipped-objective update.

PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") maximises the clipped
surrogate ``L = E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]`` with ``r_t = pi(a_t|o_t) /
pi_old(a_t|o_t)``, minus ``vf_coef`` times the value loss, plus ``ent_coef`` times the policy's
entropy. Advantages come from GAE (Schulman et al. 2016): ``delta_t = r_t + gamma V(o_{t+1}) -
V(o_t)``, ``A_t = delta_t + gamma lambda A_{t+1}``.

Recurrence follows CleanRL's ``ppo_atari_lstm``: the rollout keeps the agent's state (GRU hidden
state, plastic Hebbian traces, whatever the agent carries) as it was before the rollout's first
step; the update re-runs the agent over each environment's whole sequence from that state (a
Python loop over time, never over environments), resetting it wherever ``episode_start`` is set,
and minibatches are subsets of environments. Stateless agents (``initial_state == {}``) take one
batched forward pass over shuffled samples instead.

Autoreset (Gymnasium's ``AutoresetMode.NEXT_STEP``): the step after one that ended an episode
ignores the action and resets that world. So the observation that step acts on is the episode's
*final* observation: its transition is ``valid = False`` and is masked out of every loss and
statistic, and the observation after it has ``episode_start = True``. Because the final
observation is returned, its value is known, and a truncated episode is bootstrapped with
``gamma V(final obs)`` (Pardo et al. 2018, "Time Limits in Reinforcement Learning"); a terminated
one is not.

Everything here stays on the agent's device and never reads a value to the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from agents.actor_critic import Advanced


@dataclass
class Rollout:
    """``T`` steps of ``N`` worlds, stored on one device. Index ``[t]`` is step t."""

    obs: dict[str, torch.Tensor]  # key -> (T, N, ...) as the env returned it (uint8 image, float goal)
    actions: torch.Tensor  # (T, N) long, or (T, N, A) float (unclipped samples)
    logprobs: torch.Tensor  # (T, N) log pi_old(a_t | o_t)
    values: torch.Tensor  # (T, N) V_old(o_t)
    rewards: torch.Tensor  # (T, N) reward returned by step t
    terminated: torch.Tensor  # (T, N) bool, returned by step t
    truncated: torch.Tensor  # (T, N) bool, returned by step t
    episode_start: torch.Tensor  # (T, N) bool: o_t is the first observation of an episode
    valid: torch.Tensor  # (T, N) bool: o_t is not a final observation, so a_t acted
    prev_rewards: torch.Tensor  # (T, N) reward of the transition that led to o_t (0 at episode start)
    prev_actions: torch.Tensor  # (T, N) or (T, N, A): the action taken on o_{t-1}, as `actions`
    initial_state: dict[str, torch.Tensor]  # agent state before step 0, key -> (N, ...)

    @classmethod
    def allocate(
        cls, num_steps: int, obs: dict[str, torch.Tensor], action: torch.Tensor
    ) -> "Rollout":
        """Empty storage shaped like one step's ``obs`` and ``action`` (both batched (N, ...))."""
        n = action.shape[0]
        device = action.device

        def buf(like: torch.Tensor) -> torch.Tensor:
            return torch.zeros((num_steps, *like.shape), dtype=like.dtype, device=like.device)

        def flags() -> torch.Tensor:
            return torch.zeros((num_steps, n), dtype=torch.bool, device=device)

        def floats() -> torch.Tensor:
            return torch.zeros((num_steps, n), dtype=torch.float32, device=device)

        return cls(
            obs={key: buf(value) for key, value in obs.items()},
            actions=buf(action),
            logprobs=floats(),
            values=floats(),
            rewards=floats(),
            terminated=flags(),
            truncated=flags(),
            episode_start=flags(),
            valid=flags(),
            prev_rewards=floats(),
            prev_actions=buf(action),
            initial_state={},
        )

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        return self.rewards.shape[1]


def compute_gae(
    rollout: Rollout, next_value: torch.Tensor, gamma: float, gae_lambda: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and value targets, each (T, N).

    ``next_value`` (N,) is V of the observation after the rollout's last step. For a step that
    truncated, ``V(o_{t+1})`` is the value of the episode's final observation (returned under
    NEXT_STEP autoreset), so the bootstrap is exact; terminated steps do not bootstrap, and
    neither continues the GAE chain into the next episode. Invalid steps get advantage 0.
    """
    advantages = torch.zeros_like(rollout.rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rollout.num_steps)):
        following = next_value if t == rollout.num_steps - 1 else rollout.values[t + 1]
        bootstrap = (~rollout.terminated[t]).float()
        carry_on = (~(rollout.terminated[t] | rollout.truncated[t])).float()
        delta = rollout.rewards[t] + gamma * bootstrap * following - rollout.values[t]
        last = (delta + gamma * gae_lambda * carry_on * last) * rollout.valid[t].float()
        advantages[t] = last
    return advantages, advantages + rollout.values


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - Var[returns - values] / Var[returns] over the valid steps (a 0-d tensor; nan if Var = 0)."""
    m = mask.float()
    mean_r = _masked_mean(returns, m)
    var_r = _masked_mean((returns - mean_r) ** 2, m)
    err = returns - values
    var_e = _masked_mean((err - _masked_mean(err, m)) ** 2, m)
    return 1.0 - var_e / var_r


def evaluate_actions(
    agent: nn.Module, rollout: Rollout, index: torch.Tensor, recurrent: bool, batched: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probability, entropy and value of the stored actions of one minibatch.

    Recurrent agents: ``index`` (B,) picks environments, and the agent is re-run over each one's
    whole sequence from the rollout's initial state; gradients flow through time (truncated BPTT
    over the rollout, cut at episode starts by the agent's own reset). With ``batched`` the part
    of the agent that does not depend on its state (`Agent.encode`: the conv trunk, or conv1
    under top-down gain) and the heads (`Agent.heads`) run once over all T x B frames, and only
    `Agent.advance` goes through time, as CleanRL's ``ppo_atari_lstm`` runs its CNN over T x B and
    steps only the LSTM; without
    it the whole agent runs one time step at a time (the reference the batched replay is tested
    against). Stateless agents: ``index`` picks samples of the flattened (T * N) rollout, run in
    one pass. Returns three tensors shaped (T, B) (recurrent) or (B,) (stateless).
    """
    if not recurrent:
        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, *x.shape[2:])[index]

        out = agent(
            {k: flat(v) for k, v in rollout.obs.items()},
            {},
            flat(rollout.episode_start),
            flat(rollout.prev_rewards),
            flat(rollout.prev_actions),
        )
        return out.dist.log_prob(flat(rollout.actions)), out.dist.entropy(), out.value

    steps, size = rollout.num_steps, index.shape[0]
    obs = {k: v[:, index] for k, v in rollout.obs.items()}  # (T, B, ...)
    actions = rollout.actions[:, index]
    episode_start = rollout.episode_start[:, index]
    prev_rewards = rollout.prev_rewards[:, index]
    prev_actions = rollout.prev_actions[:, index]
    state = {k: v[index] for k, v in rollout.initial_state.items()}
    if batched:
        encoded = agent.encode({k: v.reshape(steps * size, *v.shape[2:]) for k, v in obs.items()})
        advanced = []
        for t, inputs in enumerate(encoded.map(lambda x: x.reshape(steps, size, *x.shape[1:])).unbind()):
            advanced.append(agent.advance(inputs, state, episode_start[t], prev_rewards[t], prev_actions[t]))
            state = advanced[-1].state
        dist, value = agent.heads(Advanced.cat(advanced))  # the heads over all T x B steps at once
        logprob = dist.log_prob(actions.reshape(steps * size, *actions.shape[2:]))
        return logprob.view(steps, size), dist.entropy().view(steps, size), value.view(steps, size)
    logprobs, entropies, values = [], [], []
    for t in range(steps):
        out = agent({k: v[t] for k, v in obs.items()}, state, episode_start[t], prev_rewards[t], prev_actions[t])
        logprobs.append(out.dist.log_prob(actions[t]))
        entropies.append(out.dist.entropy())
        values.append(out.value)
        state = out.state
    return torch.stack(logprobs), torch.stack(entropies), torch.stack(values)


@dataclass(frozen=True)
class PPOSettings:
    """The update's settings, CleanRL's names; `training.config.Config` holds them as flags (its
    ``replay`` is ``batched_replay`` here) and `training.loop` builds this once per run."""

    update_epochs: int  # passes over the rollout
    num_minibatches: int  # groups of environments (recurrent) or of samples (stateless) per pass
    clip_coef: float  # the surrogate's clip range eps, and the value clip's
    clip_vloss: bool  # clip the value update as the policy's
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    norm_adv: bool  # normalise advantages per minibatch
    target_kl: Optional[float] = None  # stop the epochs early past this approximate KL
    batched_replay: bool = True  # `evaluate_actions`' ``batched``


def ppo_update(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    settings: PPOSettings,
    *,
    reduce_gradients: Optional[Callable[[], None]] = None,
    generator: Optional[torch.Generator] = None,
) -> dict[str, torch.Tensor]:
    """Optimise the clipped PPO objective for ``settings.update_epochs`` passes over the rollout.

    Recurrent agents (non-empty ``rollout.initial_state``) split the N environments into
    ``num_minibatches`` equal groups; stateless agents split the T * N samples (the count must
    divide evenly). Invalid steps (final
    observations, see the module docstring) are masked out of every term. ``reduce_gradients``
    runs after each backward pass and before clipping (data-parallel all-reduce). With
    ``target_kl`` set, the epochs stop early once the last minibatch's approximate KL exceeds
    it, as in CleanRL (one host read per epoch). Minibatch orders come from ``generator`` (torch's
    global RNG when None). Returns 0-d device
    tensors: CleanRL's loss statistics averaged over minibatches, plus ``finite`` (1.0 while every loss
    was finite).
    """
    recurrent = bool(rollout.initial_state)
    update_epochs, num_minibatches, clip_coef = settings.update_epochs, settings.num_minibatches, settings.clip_coef
    n_units = rollout.num_envs if recurrent else rollout.num_envs * rollout.num_steps
    size = n_units // num_minibatches
    valid = rollout.valid.float()
    flat_valid = valid.reshape(-1)
    params = [p for p in agent.parameters() if p.requires_grad]
    device = rollout.rewards.device
    sums = {k: torch.zeros((), device=device) for k in
            ("value_loss", "policy_loss", "entropy", "old_approx_kl", "approx_kl", "clipfrac")}
    finite = torch.ones((), device=device)
    count = 0
    for _epoch in range(update_epochs):
        order = torch.randperm(n_units, device=device, generator=generator)
        for start in range(0, size * num_minibatches, size):
            index = order[start:start + size]
            newlogprob, entropy, newvalue = evaluate_actions(agent, rollout, index, recurrent, settings.batched_replay)
            if recurrent:
                mask = valid[:, index]
                oldlogprob, oldvalue = rollout.logprobs[:, index], rollout.values[:, index]
                mb_adv, mb_ret = advantages[:, index], returns[:, index]
            else:
                mask = flat_valid[index]
                oldlogprob = rollout.logprobs.reshape(-1)[index]
                oldvalue = rollout.values.reshape(-1)[index]
                mb_adv, mb_ret = advantages.reshape(-1)[index], returns.reshape(-1)[index]

            logratio = newlogprob - oldlogprob
            ratio = logratio.exp()
            with torch.no_grad():
                # http://joschu.net/blog/kl-approx.html
                sums["old_approx_kl"] += _masked_mean(-logratio, mask)
                approx_kl = _masked_mean((ratio - 1) - logratio, mask)
                sums["approx_kl"] += approx_kl
                sums["clipfrac"] += _masked_mean(((ratio - 1.0).abs() > clip_coef).float(), mask)

            if settings.norm_adv:
                mean = _masked_mean(mb_adv, mask)
                std = _masked_mean((mb_adv - mean) ** 2, mask).sqrt()
                mb_adv = (mb_adv - mean) / (std + 1e-8)

            pg_loss1 = -mb_adv * ratio
            pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
            pg_loss = _masked_mean(torch.max(pg_loss1, pg_loss2), mask)

            if settings.clip_vloss:
                v_unclipped = (newvalue - mb_ret) ** 2
                v_clipped = oldvalue + torch.clamp(newvalue - oldvalue, -clip_coef, clip_coef)
                v_loss = 0.5 * _masked_mean(torch.max(v_unclipped, (v_clipped - mb_ret) ** 2), mask)
            else:
                v_loss = 0.5 * _masked_mean((newvalue - mb_ret) ** 2, mask)

            entropy_loss = _masked_mean(entropy, mask)
            loss = pg_loss - settings.ent_coef * entropy_loss + v_loss * settings.vf_coef

            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            if reduce_gradients is not None:
                reduce_gradients()
            nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                finite = finite * torch.isfinite(loss).float()
                sums["value_loss"] += v_loss
                sums["policy_loss"] += pg_loss
                sums["entropy"] += entropy_loss
            count += 1

        if settings.target_kl is not None and approx_kl.item() > settings.target_kl:
            break

    stats = {k: v.detach() / max(count, 1) for k, v in sums.items()}
    stats["finite"] = finite
    stats["explained_variance"] = explained_variance(rollout.values, returns, rollout.valid)
    return stats
