"""The training run: set up, then for every update collect -> bootstrap -> GAE -> optimise -> log.

`train` reads top to bottom like CleanRL's ``ppo_atari_lstm.py``. The PPO maths (rollout
storage, GAE, the clipped loss, minibatching by environment) lives in `agents.ppo`, the carry of
the agent between steps in `agents.runner`; building the worlds and the agent in
`training.build`, resume, save and restore in `training.run_state`, the console and TensorBoard
in `training.logbook`, and Ctrl-C handling in `training.interrupt`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from agents.ppo import Rollout, compute_gae, ppo_update
from agents.runner import env_action
from training import distributed, monitor
from training.build import (TRAINING_ENV_OPTIONS, action_bounds, action_example, make_agent, make_env,
                            resolve_device, set_cpu_threads)
from training.checkpoint import CHECKPOINT_FILE
from training.config import Config, ConfigError, validate
from training.interrupt import stop_requests
from training.logbook import Logbook
from training.run_state import RunState


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN or infinite; training stopped without saving."""


@dataclass
class TrainResult:
    """What a call of `train` did."""

    run_dir: Optional[str]  # None on ranks other than 0
    global_step: int  # env steps trained so far, all processes, resumes included
    updates: int  # PPO updates so far
    episodic_return: Optional[float]  # mean return of the episodes of the last update(s) logged
    normalized_score: Optional[float]  # (return - random) / (scripted - random)
    sps: float  # end-to-end env steps per second of this call, all processes
    elapsed: float  # training seconds of the whole run, resumes included
    interrupted: bool  # stopped early (Ctrl-C, SIGTERM or max_updates) with a checkpoint
    reference: dict  # {"random": ..., "scripted": ...} reference returns, or {}
    agent_params: int  # trainable parameters of the agent


def train(config: Config, *, max_updates: Optional[int] = None) -> TrainResult:
    """Train ``config.agent`` on ``config.env`` with recurrent PPO; see `Config` for every setting.

    Bad settings raise ConfigError (a ValueError naming the flag) before any training step.
    ``max_updates`` stops this call after that many updates, with a checkpoint, as Ctrl-C does
    (for tests and time-boxed runs; ``--resume`` continues). A non-finite loss or parameter raises
    NonFiniteError naming the update, and nothing is saved over the last good checkpoint.
    """
    validate(config)
    device = resolve_device(config.device)
    process = distributed.setup(device.type)
    if device.type == "cuda" and process.distributed:
        device = torch.device("cuda", process.local_rank)
    if device.type == "cpu":
        set_cpu_threads(process.local_world_size)
    try:
        result = _train(config, device, process, max_updates)
    except BaseException:
        distributed.teardown(process)
        raise
    # Leave together: a process that tears gloo down while its peer still writes can abort.
    distributed.barrier(process)
    distributed.teardown(process)
    return result


def train_population(configs: Sequence[Config], *, max_updates: Optional[int] = None) -> list[TrainResult]:
    """Train several runs that differ only in ``seed`` and ``run_dir``/``resume``; one TrainResult each.

    (First form: the runs train one after another. The population form, one process and one vector env
    for all of them, replaces it with the same results.)"""
    return [train(config, max_updates=max_updates) for config in configs]


def _train(config: Config, device: torch.device, process: distributed.Process,
           max_updates: Optional[int]) -> TrainResult:
    # ---- set up: the run (resume checked before anything is built), worlds, agent, optimizer ---
    run = RunState.open(config, process, device)
    torch.manual_seed(config.seed)  # the same initial parameters on every process
    env = make_env(config, config.num_envs, device, **TRAINING_ENV_OPTIONS)
    if config.distractor_ramp and getattr(getattr(env, "multi", None), "cooperative", False):
        raise ConfigError("--distractor-ramp: not with cooperative=True, where each forager is paid the team's "
                          "reward but the ramp would relieve only its own distractors; allowed: 0 (off) there")
    agent = make_agent(config, env, run.agent_config).to(device)
    distributed.broadcast_parameters(agent, process)
    validate(config, recurrent=bool(agent.initial_state(1, device=device)))
    # env.num_envs: --num-envs worlds; on MultiBerry-v0, --num-envs arenas x their foragers
    batch_size = env.num_envs * config.num_steps * process.world_size  # env (forager) steps per update
    num_updates = config.total_steps // batch_size
    if num_updates < 1:
        raise ConfigError(f"--total-steps: got {config.total_steps}; allowed: at least one update's "
                          f"{batch_size} steps (--num-envs x --num-steps x processes)")
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    num_params = sum(p.numel() for p in agent.parameters())
    torch.manual_seed(config.seed * 1_000_003 + process.rank + 1)  # each process samples its own actions
    obs, carry = run.begin(agent, optimizer, env)  # fresh, or exactly where the saved run stopped
    start_update, global_step = run.update, run.global_step

    rollout = Rollout.allocate(config.num_steps, obs, action_example(env, device))
    bounds = action_bounds(env)
    reduce_gradients = distributed.gradient_reducer(agent, process)
    episodes, internals = monitor.EpisodeStats(device), monitor.InternalStats()
    log = Logbook(run, agent, num_params, num_updates, batch_size)
    update, stopped, steady = start_update, False, None  # steady: (time, step) after this call's first update
    run.start_clock()

    with log, stop_requests(announce=process.is_main) as stop_request:
        for update in range(start_update + 1, num_updates + 1):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - (update - 1.0) / num_updates)

            ramp = distractor_ramp(config, update, num_updates)  # 1 unless --distractor-ramp
            relief = (1.0 - ramp) * env.config.distractor_reward  # the distractor reward not yet charged
            # 1. Collect: num_steps steps of every world into device storage; no host reads.
            rollout.initial_state = {k: v.clone() for k, v in carry.state.items()}
            for step in range(config.num_steps):
                with torch.no_grad():
                    out = carry.act(agent, obs)
                    action = out.dist.sample()
                    for key, value in obs.items():
                        rollout.obs[key][step] = value
                    rollout.episode_start[step], rollout.valid[step] = carry.episode_start, carry.valid
                    rollout.prev_rewards[step] = carry.prev_reward
                    rollout.actions[step], rollout.logprobs[step] = action, out.dist.log_prob(action)
                    rollout.values[step] = out.value
                    internals.record(out.internals)
                obs, reward, terminated, truncated, info = env.step(env_action(action, *bounds))
                if relief:  # --distractor-ramp: the agent learns from the ramped reward, logs show the true one
                    reward = reward - relief * info["distractor_eaten"]
                rollout.rewards[step], rollout.terminated[step], rollout.truncated[step] = reward, terminated, truncated
                carry = carry.advance(out, reward, terminated, truncated)
                episodes.record(info)
            global_step += batch_size

            # 2. Bootstrap: the value of the observation after the rollout (the env still shows it,
            # so its spatial gain is measured against the target mask here, on the device).
            with torch.no_grad():
                boot = carry.act(agent, obs)
                next_value = boot.value
                internals.record_spatial_index(boot.internals, env)

            # 3. Advantages (GAE) and value targets.
            advantages, returns = compute_gae(rollout, next_value, config.gamma, config.gae_lambda)

            # 4. Optimise the clipped PPO objective.
            stats = ppo_update(
                agent, optimizer, rollout, advantages, returns,
                update_epochs=config.update_epochs, num_minibatches=config.num_minibatches,
                clip_coef=config.clip_coef, clip_vloss=config.clip_vloss, ent_coef=config.ent_coef,
                vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm, norm_adv=config.norm_adv,
                target_kl=config.target_kl, reduce_gradients=reduce_gradients,
            )

            # 5. Check, log, checkpoint. The host reads the update's numbers here, once.
            _check_finite(agent, stats, update, global_step, run)
            shared = distributed.all_sum(
                torch.cat([episodes.sums, torch.tensor([float(stop_request.requested)], device=device)]), process)
            stop = bool(shared[-1] > 0) or (max_updates is not None and update - start_update >= max_updates)
            steady = steady or (time.time(), global_step)
            sps = (global_step - start_update * batch_size) / max(time.time() - run.started, 1e-9)
            log.scalars(global_step, sps, optimizer.param_groups[0]["lr"], stats,
                        {**episodes.read(shared[:-1]), **internals.read(),
                         **({"charts/distractor_ramp": ramp} if config.distractor_ramp else {})})
            if config.image_interval and update % config.image_interval == 0:
                log.view(global_step, rollout.obs["image"][-1], out.internals.get("spatial_gain"))
            if config.video_interval and update % config.video_interval == 0 and not stop:
                log.video(agent, global_step)
            if stop:
                stopped = True
                break
            if config.checkpoint_interval and update % config.checkpoint_interval == 0 and update < num_updates:
                run.save(update, global_step, agent, optimizer, env, obs, carry)
        run.save(update, global_step, agent, optimizer, env, obs, carry)

    # ---- the end: throughput from the end of this call's first update, final video and note ---
    steps_call, elapsed_call = global_step - start_update * batch_size, time.time() - run.started
    if steady is not None and global_step > steady[1]:
        sps_call = (global_step - steady[1]) / max(time.time() - steady[0], 1e-9)
    else:
        sps_call = steps_call / max(elapsed_call, 1e-9)
    elapsed = run.elapsed_before + elapsed_call
    if config.video_interval and update > start_update:
        log.video(agent, global_step)
    log.close(global_step, update, num_updates, elapsed, sps_call, stopped)
    env.close()
    return TrainResult(run.run_dir, global_step, update, log.last_return, log.last_score, sps_call, elapsed, stopped,
                       run.reference, num_params)


def distractor_ramp(config: Config, update: int, num_updates: int) -> float:
    """The share w of the distractor reward charged in ``update`` (1-based) under --distractor-ramp: w rises
    linearly from 0 at the first update to 1 at ``distractor_ramp * num_updates``; 1 when the ramp is off."""
    if config.distractor_ramp <= 0:
        return 1.0
    return min(1.0, (update - 1) / (config.distractor_ramp * num_updates))


def _check_finite(agent: torch.nn.Module, stats: dict, update: int, global_step: int, run: RunState) -> None:
    """Raise NonFiniteError if a loss of the update or a parameter is NaN or infinite (a host read)."""
    params_finite = torch.stack([torch.isfinite(p).all() for p in agent.parameters()]).all()
    if not bool(params_finite & (stats["finite"] > 0)):
        checkpoint = os.path.join(run.run_dir or run.config.resume or "<run dir>", CHECKPOINT_FILE)
        raise NonFiniteError(
            f"update {update} (step {global_step:,}): a loss or parameter became NaN or infinite; training "
            f"stopped. The last good checkpoint, {checkpoint}, is left as it was. Try a lower --learning-rate "
            f"or --max-grad-norm.")
