"""The training run: set up, then for every update collect -> bootstrap -> GAE -> optimise -> log.

`_run` is one run, top to bottom as CleanRL's ``ppo_atari_lstm.py`` reads: set-up, then per update
`collect` (the rollout, ``env.step`` inline), the bootstrap value, GAE, the PPO update and the log.
`collect` is the one place a training env is stepped; the benchmarks and the replay test call it
too. A population (``--population K``) is K runs of one config, one after another in this process
(`train_population`); nothing inside a run knows about the others.

The PPO maths (rollout storage, GAE, the clipped loss, minibatching by environment) lives in
`agents.ppo`, the carry of the agent between steps in `agents.runner`; building the worlds and the
agent in `training.build`, resume, save and restore in `training.run_state`, the console and
TensorBoard in `training.logbook`, and Ctrl-C handling in `training.interrupt`.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from agents.ppo import PPOSettings, Rollout, compute_gae, ppo_update
from agents.runner import Carry, env_action, sample
from common.device import resolve_device
from common.flags import first_line
from training import distributed
from training.build import (TRAINING_ENV_OPTIONS, action_bounds, action_example, compile_agent, make_agent,
                            make_env, prepare_cpu_process)
from training.checkpoint import CHECKPOINT_FILE, damaged
from training.checks import check_minibatches, validate
from training.config import Config, ConfigError
from training.curriculum import distractor_ramp, worlds_of_update
from training.interrupt import StopRequest, stop_requests
from training.logbook import Logbook
from training.memory import check_memory
from training.population import check_members, write_population_config
from training.run_state import RunState
from training.stats import EpisodeStats, InternalStats


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
    if config.population != 1:
        raise ConfigError(f"--population: got {config.population}; train() runs one seed; allowed: 1 here, "
                          f"or train_population(population_configs(config)) for several")
    return train_population([config], max_updates=max_updates)[0]


def train_population(configs: Sequence[Config], *, max_updates: Optional[int] = None,
                     population: Optional[Config] = None) -> list[TrainResult]:
    """Train runs that differ only in ``seed`` and ``run_dir``/``resume``, one after another in this
    process; one TrainResult each, in order, each run exactly its separate run. A stop request (Ctrl-C,
    SIGTERM) ends the run in progress with a checkpoint and starts no later one: the list then ends there.

    ``population``: the config they were expanded from (`population_configs`), saved as the population
    directory's config.json so that ``--resume`` finds it. Errors as `train`."""
    configs = list(configs)
    for config in configs:
        validate(config)
    check_members(configs)
    device = resolve_device(configs[0].device, "--device")
    process = distributed.setup(device.type)
    results = []
    try:
        if len(configs) > 1 and process.distributed:
            raise ConfigError("--population: a population trains in one process; allowed: 1 under torchrun")
        if device.type == "cuda" and process.distributed:
            device = torch.device("cuda", process.local_rank)
        if device.type == "cpu":
            prepare_cpu_process(process.local_world_size)
        stop_request = StopRequest()  # set by Ctrl-C or SIGTERM while a run trains (`_run`)
        for index, config in enumerate(configs):
            results.append(_run(config, device, process, max_updates, stop_request, brief=index > 0,
                                population=population if index == 0 else None))
            if stop_request.requested:
                break
    except BaseException:
        distributed.teardown(process)
        raise
    # Leave together: a process that tears gloo down while its peer still writes can abort.
    distributed.barrier(process)
    distributed.teardown(process)
    return results


def _run(config: Config, device: torch.device, process: distributed.Process, max_updates: Optional[int],
         stop_request: StopRequest, brief: bool = False, population: Optional[Config] = None) -> TrainResult:
    """One run: set-up, then collect -> bootstrap -> GAE -> optimise -> log for every update; its result.

    ``brief``: print one line instead of the config (a population's later runs). ``population``: write the
    population directory's config.json once this run's directory is open."""
    with contextlib.ExitStack() as stack:
        # ---- set-up: the run directory (locked; a resume checked before anything is built), the worlds,
        # the agent, its optimiser and action RNG, then the worlds and carry fresh or as saved ----
        run = RunState.open(config, process, device)
        stack.callback(run.release)
        config = run.config  # with its run directory named
        if config.cuda_graph and device.type != "cuda":
            raise ConfigError(f"--cuda-graph: got it with the device {device}; allowed: a CUDA device (--device "
                              f"cuda, or auto where torch sees one), or no --cuda-graph")
        check_memory(config, device, run.agent_config)  # before the worlds are built
        env = make_env(config, config.num_envs, device, **TRAINING_ENV_OPTIONS, stagger_start=config.stagger_start)
        stack.callback(env.close)
        if config.cuda_graph:  # the same steps, replayed as one graph; eager, with a warning, where capture fails
            getattr(env, "unwrapped", env).capture_step()
        worlds = env.config  # the worlds as configured; the curricula change env.config per update (reconfigure)
        _check_curricula(config, env)
        run.record_worlds(worlds)
        torch.manual_seed(config.seed)  # the same initial parameters on every process
        agent = make_agent(config, env, run.agent_config).to(device)
        if config.compile:
            compile_agent(agent)
        distributed.broadcast_parameters(agent, process)
        check_minibatches(config, recurrent=bool(agent.initial_state(1, device=device)))
        optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
        generator = torch.Generator(device).manual_seed(config.seed * 1_000_003 + process.rank + 1)  # its actions
        reduce_gradients = distributed.gradient_reducer(agent, process)  # None unless data-parallel
        # env.num_envs: the worlds; on MultiBerry-v1, --num-envs arenas x their foragers
        batch_size = env.num_envs * config.num_steps * process.world_size  # env (forager) steps per update
        num_updates = config.total_steps // batch_size
        if num_updates < 1:
            raise ConfigError(f"--total-steps: got {config.total_steps}; allowed: at least one update's "
                              f"{batch_size} steps (--num-envs x --num-steps x processes)")
        obs, carry = _begin(run, agent, optimizer, generator, env, device)
        if population is not None and process.is_main:
            write_population_config(population, config)
        start_update = update = run.update
        global_step, settings, bounds = run.global_step, ppo_settings(config), action_bounds(env)
        num_params = sum(p.numel() for p in agent.parameters())
        log = stack.enter_context(Logbook(run, agent, num_params, num_updates, batch_size, brief=brief,
                                          episode_steps=getattr(env.config, "max_episode_steps", None)))
        rollout = Rollout.allocate(config.num_steps, obs, action_example(env, device))
        episodes = EpisodeStats(device, getattr(env.config, "max_episode_steps", None))
        internals = InternalStats()
        stopped, steady = False, None  # steady: (time, step) at the end of this call's first update
        # Ctrl-C or SIGTERM from here on finishes the update and saves (before, they stop the set-up at once).
        stack.enter_context(stop_requests(announce=process.is_main, request=stop_request))
        run.start_clock()

        for update in range(start_update + 1, num_updates + 1):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - (update - 1.0) / num_updates)
            ramp = distractor_ramp(config, update, num_updates)  # 1 unless --distractor-ramp
            knobs = worlds_of_update(config, update, num_updates, worlds)  # {} unless a curriculum sets them
            if knobs:
                env.reconfigure(**knobs)
            relief = (1.0 - ramp) * env.config.distractor_reward  # the distractor reward not yet charged

            # 1. Collect: num_steps steps of the worlds into device storage; no host reads.
            obs, carry, out = collect(agent, env, obs, carry, rollout, generator, bounds=bounds, relief=relief,
                                      episodes=episodes, internals=internals)
            global_step += batch_size

            # 2. Bootstrap: the value of the observation after the rollout (the env still shows it, so
            # the spatial gain is measured against the target mask here, on the device).
            with torch.no_grad():
                boot = carry.act(agent, obs)
            if "spatial_gain" in boot.internals:
                internals.record_spatial_index(boot.internals, _target_mask(env))
            # 3. Advantages (GAE) and value targets.
            advantages, returns = compute_gae(rollout, boot.value, config.gamma, config.gae_lambda)
            # 4. Optimise the clipped PPO objective.
            stats = ppo_update(agent, optimizer, rollout, advantages, returns, settings,
                               reduce_gradients=reduce_gradients, generator=generator)

            # 5. Check, log, checkpoint. The host reads the update's numbers here, once; the episode sums
            # and the stop flag (Ctrl-C or SIGTERM on any process) are summed over the processes.
            _check_finite(agent, stats, update, global_step, run)
            flag = torch.tensor([float(stop_request.requested)], device=device)
            shared = distributed.all_sum(torch.cat([episodes.sums, flag]), process)
            stop, now = bool(shared[-1] > 0), time.monotonic()
            stop = stop or (max_updates is not None and update - start_update >= max_updates)
            steady = steady or (now, global_step)
            sps = (global_step - start_update * batch_size) / max(now - run.started, 1e-9)
            log.scalars(global_step, sps, optimizer.param_groups[0]["lr"], stats,
                        {**episodes.read(shared[:-1]), **internals.read(),
                         **({"charts/distractor_ramp": ramp} if config.distractor_ramp else {}),
                         **({"charts/first_colour_share": env.config.first_colour_share} if config.prior_ramp else {}),
                         **({"charts/clutter": _clutter_drawn(env, worlds)} if config.clutter_ramp else {})})
            if config.image_interval and (update % config.image_interval == 0 or update == start_update + 1):
                log.view(global_step, rollout.obs["image"][-1], out.internals.get("spatial_gain"),
                         rollout.obs["goal"][-1])
            if config.video_interval and update % config.video_interval == 0 and not stop:
                log.video(agent, global_step)
            if stop:
                stopped = True
                break
            if config.checkpoint_interval and update % config.checkpoint_interval == 0 and update < num_updates:
                _save(run, log, update, global_step, agent, optimizer, generator, env, obs, carry)

        # ---- the end: the checkpoint, the closing video, the final evaluation and the closing note ----
        _save(run, log, update, global_step, agent, optimizer, generator, env, obs, carry)
        steps_call, elapsed_call = global_step - start_update * batch_size, time.monotonic() - run.started
        if steady is not None and global_step > steady[1]:  # throughput from the end of this call's first update
            sps_call = (global_step - steady[1]) / max(time.monotonic() - steady[0], 1e-9)
        elif steps_call == 0 and log.last_sps is not None:  # resumed after its last update: the saved run's
            sps_call = log.last_sps
        else:
            sps_call = steps_call / max(elapsed_call, 1e-9)
        if config.video_interval and update > start_update:
            log.video(agent, global_step)
        if not stopped:  # the policy as saved, on fresh worlds: what the closing note and HParams show
            log.final_evaluation(agent, global_step)
        elapsed = run.elapsed_before + elapsed_call
        log.close(global_step, update, num_updates, elapsed, sps_call, stopped)
        return TrainResult(run.run_dir, global_step, update, log.last_return, log.last_score, sps_call, elapsed,
                           stopped, run.reference, num_params)


def collect(agent: torch.nn.Module, env, obs: dict, carry: Carry, rollout: Rollout,
            generator: Optional[torch.Generator] = None, *, bounds: Optional[tuple] = None, relief: float = 0.0,
            episodes: Optional[EpisodeStats] = None, internals: Optional[InternalStats] = None):
    """Stage 1 of an update: ``rollout.num_steps`` steps of the policy in ``env`` into ``rollout`` (on the
    device, no host reads); returns (the observation after the last step, the carry, the last step's output).

    ``relief``: the share of the distractor reward not yet charged (--distractor-ramp); the agent learns
    from the ramped reward, the statistics record the true one. ``episodes`` and ``internals`` (optional)
    accumulate the logged statistics."""
    bounds = action_bounds(env) if bounds is None else bounds
    rollout.initial_state = {key: v.clone() for key, v in carry.state.items()}
    out = None
    for step in range(rollout.num_steps):
        with torch.no_grad():
            out = carry.act(agent, obs)
            action = sample(out.dist, generator)
            logprob = out.dist.log_prob(action)
        for key, value in obs.items():
            rollout.obs[key][step] = value
        rollout.episode_start[step], rollout.valid[step] = carry.episode_start, carry.valid
        rollout.prev_rewards[step], rollout.prev_actions[step] = carry.prev_reward, carry.prev_action
        rollout.actions[step], rollout.logprobs[step], rollout.values[step] = action, logprob, out.value
        if internals is not None:
            internals.record(out.internals)
        obs, true_reward, terminated, truncated, info = env.step(env_action(action, *bounds))
        reward = true_reward - relief * info["distractor_eaten"] if relief else true_reward
        rollout.rewards[step], rollout.terminated[step], rollout.truncated[step] = reward, terminated, truncated
        carry = carry.advance(out, action, reward, terminated, truncated)  # next-step autoreset rules
        if episodes is not None:
            episodes.record(info, true_reward)
    return obs, carry, out


def _check_curricula(config: Config, env) -> None:
    """ConfigError where a curriculum flag has nothing to act on in these worlds."""
    worlds = env.config
    if config.clutter_ramp and not (worlds.num_foliage or worlds.noise):
        raise ConfigError(f"--clutter-ramp: got {config.clutter_ramp} for worlds with no foliage and no noise, where "
                          f"it has nothing to ramp; allowed: 0 (off) there, or worlds with num_foliage or noise "
                          f"(--env-kwargs)")
    if config.distractor_ramp and getattr(getattr(env, "multi", None), "cooperative", False):
        raise ConfigError("--distractor-ramp: not with cooperative=True, where each forager is paid the team's "
                          "reward but the ramp would relieve only its own distractors; allowed: 0 (off) there")


def _clutter_drawn(env, worlds) -> float:
    """The share of the worlds' foliage radius (else noise) that the env draws now (--clutter-ramp)."""
    if worlds.num_foliage:
        return env.config.foliage_radius / worlds.foliage_radius
    return env.config.noise / worlds.noise


def ppo_settings(config: Config) -> PPOSettings:
    """The run's PPO settings, from its flags."""
    return PPOSettings(update_epochs=config.update_epochs, num_minibatches=config.num_minibatches,
                       clip_coef=config.clip_coef, clip_vloss=config.clip_vloss, ent_coef=config.ent_coef,
                       vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm, norm_adv=config.norm_adv,
                       target_kl=config.target_kl, batched_replay=config.replay == "batched")


def _begin(run: RunState, agent, optimizer, generator, env, device: torch.device) -> tuple[dict, Carry]:
    """The first observations and the agent's carry: fresh, or restored exactly where the saved run stopped."""
    restored = run.begin(agent, optimizer, generator)
    if restored is not None and hasattr(env, "set_state"):
        state, obs, carry = restored
        try:
            env.set_state(state)
        except (ValueError, TypeError, RuntimeError, IndexError, KeyError) as exc:  # shapes or fields of other worlds
            path = os.path.join(run.config.resume, CHECKPOINT_FILE)
            raise damaged(path, f"its saved worlds do not fit this run's worlds ({first_line(exc)})") from None
        return obs, carry
    obs = env.reset(seed=run.world_seeds())[0]
    return obs, Carry.start(agent, env.num_envs, device)


def _save(run: RunState, log: Logbook, update: int, global_step: int, agent, optimizer, generator, env,
          obs: dict, carry: Carry) -> None:
    """The run's checkpoint, with its worlds and its latest logged numbers."""
    state = env.get_state() if hasattr(env, "get_state") else None
    run.save(update, global_step, agent, optimizer, generator, state, obs, carry, log.last())


def _target_mask(env) -> Optional[torch.Tensor]:
    """The worlds' target mask for the spatial index (None for worlds without one)."""
    world = getattr(env, "unwrapped", env)
    return world.target_mask() if hasattr(world, "target_mask") else None


def _check_finite(agent: torch.nn.Module, stats: dict, update: int, global_step: int, run: RunState) -> None:
    """Raise NonFiniteError if a loss of the update or a parameter is NaN or infinite (a host read)."""
    params_finite = torch.stack([torch.isfinite(p).all() for p in agent.parameters()]).all()
    if not bool(params_finite & (stats["finite"] > 0)):
        checkpoint = os.path.join(run.run_dir or run.config.resume or "", CHECKPOINT_FILE)
        kept = (f"The last good checkpoint, {checkpoint}, is left as it was." if os.path.isfile(checkpoint) else
                "No checkpoint was written: it diverged before the first one.")
        raise NonFiniteError(
            f"update {update} (step {global_step:,}): a loss or parameter became NaN or infinite; training "
            f"stopped. {kept} Try a lower --learning-rate or --max-grad-norm.")
