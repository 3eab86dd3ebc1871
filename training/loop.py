"""The training run: set up, then for every update collect -> bootstrap -> GAE -> optimise -> log.

`_run` is one run's loop, top to bottom like CleanRL's ``ppo_atari_lstm.py``, the rollout written
inline. It steps its worlds by yielding its actions (``obs, reward, ... = yield action``), so that
`training.population.step_together` can step the K runs of a population over one env; a plain run
is K = 1. The PPO maths (rollout storage, GAE, the clipped loss, minibatching by environment) lives
in `agents.ppo`, the carry of the agent between steps in `agents.runner`; building the worlds and
the agent in `training.build`, resume, save and restore in `training.run_state`, the console and
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
from agents.runner import Carry, sample
from common.device import resolve_device
from common.flags import first_line
from training import distributed
from training.build import (TRAINING_ENV_OPTIONS, action_bounds, action_example, compile_agent, make_agent,
                            make_env, prepare_cpu_process)
from training.checkpoint import CHECKPOINT_FILE, damaged
from training.checks import validate
from training.config import Config, ConfigError
from training.curriculum import distractor_ramp, worlds_of_update
from training.interrupt import stop_requests
from training.logbook import Logbook
from training.memory import check_memory
from training.population import Member, UpdateEnd, check_members, join, join_states, step_together, write_population_config
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
    """Train runs that differ only in ``seed`` and ``run_dir``/``resume`` as one population in this process
    (`training.population`); one TrainResult each, in order, each run exactly its separate run.

    ``population``: the config they were expanded from (`population_configs`), saved as the population
    directory's config.json so that ``--resume`` finds it. Errors as `train`."""
    configs = list(configs)
    for config in configs:
        validate(config)
    check_members(configs)
    device = resolve_device(configs[0].device, "--device")
    process = distributed.setup(device.type)
    try:
        if len(configs) > 1 and process.distributed:
            raise ConfigError("--population: a population trains in one process; allowed: 1 under torchrun")
        if device.type == "cuda" and process.distributed:
            device = torch.device("cuda", process.local_rank)
        if device.type == "cpu":
            prepare_cpu_process(process.local_world_size)
        results = _train(configs, device, process, max_updates, population)
    except BaseException:
        distributed.teardown(process)
        raise
    # Leave together: a process that tears gloo down while its peer still writes can abort.
    distributed.barrier(process)
    distributed.teardown(process)
    return results


def _train(configs: list[Config], device: torch.device, process: distributed.Process,
           max_updates: Optional[int], population: Optional[Config]) -> list[TrainResult]:
    # ---- set up: the runs (each run directory locked, resumes checked before anything is built) ----
    runs: list[RunState] = []
    try:
        for c in configs:
            runs.append(RunState.open(c, process, device))
        saved = {run.config.seed: int(run.checkpoint["update"]) for run in runs if run.checkpoint is not None}
        if len(set(saved.values())) > 1:  # one member was resumed alone: they no longer step together
            at = ", ".join(f"seed {s} at update {u}" for s, u in saved.items())
            raise ConfigError(f"--resume: the population's runs stopped at different updates ({at}), so they cannot "
                              f"train on as one; allowed: resume the behind ones alone (--resume RUN_DIR/seed<s>) "
                              f"to the same --total-steps")
        return _train_runs(runs, device, process, max_updates, population)
    finally:
        for run in runs:
            run.release()


def _train_runs(runs: list[RunState], device: torch.device, process: distributed.Process,
                max_updates: Optional[int], population: Optional[Config]) -> list[TrainResult]:
    """Build what the runs share (the worlds, the schedule), then train them: `_run` is one run's loop,
    and `step_together` steps the runs' loops side by side over the one env (K = 1 for a plain run)."""
    configs = [run.config for run in runs]
    config, k = configs[0], len(configs)  # the settings the runs share
    if config.cuda_graph and device.type != "cuda":
        raise ConfigError(f"--cuda-graph: got it with the device {device}; allowed: a CUDA device (--device cuda, or "
                          f"auto where torch sees one), or no --cuda-graph")
    check_memory(config, k, device, runs[0].agent_config)  # before the worlds are built
    env = make_env(config, config.num_envs * k, device, **TRAINING_ENV_OPTIONS)
    if config.cuda_graph:  # the same steps, replayed as one graph; eager, with a warning, where capture fails
        getattr(env, "unwrapped", env).capture_step()
    worlds = env.config  # the worlds as configured; the curricula change env.config per update (reconfigure)
    if config.clutter_ramp and not (worlds.num_foliage or worlds.noise):
        raise ConfigError(f"--clutter-ramp: got {config.clutter_ramp} for worlds with no foliage and no noise, where "
                          f"it has nothing to ramp; allowed: 0 (off) there, or worlds with num_foliage or noise "
                          f"(--env-kwargs)")
    for run in runs:
        run.record_worlds(worlds)
    if config.distractor_ramp and getattr(getattr(env, "multi", None), "cooperative", False):
        raise ConfigError("--distractor-ramp: not with cooperative=True, where each forager is paid the team's "
                          "reward but the ramp would relieve only its own distractors; allowed: 0 (off) there")
    members = [_member(run, env, i, k, device, process) for i, run in enumerate(runs)]
    # env.num_envs: the worlds of all runs; on MultiBerry-v1, --num-envs arenas x their foragers, per run
    batch_size = env.num_envs // k * config.num_steps * process.world_size  # env (forager) steps per update, per run
    num_updates = config.total_steps // batch_size
    if num_updates < 1:
        raise ConfigError(f"--total-steps: got {config.total_steps}; allowed: at least one update's "
                          f"{batch_size} steps (--num-envs x --num-steps x processes)")
    obs = _begin(members, env, device)  # fresh, or exactly where the saved runs stopped
    if population is not None and process.is_main:
        write_population_config(population, configs)
    start_update = members[0].run.update
    schedule = Schedule(start_update, num_updates, batch_size, members[0].run.global_step, max_updates, worlds)
    num_params = sum(p.numel() for p in members[0].agent.parameters())
    logs = [Logbook(m.run, m.agent, num_params, num_updates, batch_size, brief=i > 0,
                    episode_steps=getattr(env.config, "max_episode_steps", None)) for i, m in enumerate(members)]
    for m in members:
        m.run.start_clock()
    with contextlib.ExitStack() as stack, stop_requests(announce=process.is_main) as stop_request:
        for log in logs:
            stack.enter_context(log)
        loops = [_run(m, log, env, m.mine(obs), schedule) for m, log in zip(members, logs)]
        results = step_together(loops, members, env, action_bounds(env), stop_request, process)
    env.close()
    return results


@dataclass(frozen=True)
class Schedule:
    """Where a call's runs start and end, the same for every run of a population."""

    start_update: int  # updates done before this call (a resume's)
    num_updates: int  # updates of the whole run
    batch_size: int  # env steps per update, all processes
    global_step: int  # env steps done before this call
    max_updates: Optional[int]  # stop this call after that many updates (None: run to the end)
    worlds: object  # the worlds as configured (env.config before any curriculum)


def _run(m: Member, log: Logbook, env, obs: dict, schedule: Schedule):
    """One run's training, CleanRL's stages top to bottom: collect -> bootstrap -> GAE -> optimise -> log.

    The run steps its worlds by yielding its actions and receiving its rows of the step, and yields
    `UpdateEnd` after each update to hear whether to stop (`training.population.step_together`, which
    steps the one env a population shares). Returns its TrainResult."""
    config, run, agent, optimizer, generator = m.config, m.run, m.agent, m.optimizer, m.generator
    device, num_updates = obs["image"].device, schedule.num_updates
    settings = ppo_settings(config)
    rollout = Rollout.allocate(config.num_steps, obs, m.mine(action_example(env, device)))
    episodes, internals = EpisodeStats(device), InternalStats()
    carry, global_step = m.carry, schedule.global_step
    update, stopped, steady = schedule.start_update, False, None  # steady: (time, step) after this call's first update
    for update in range(schedule.start_update + 1, num_updates + 1):
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - (update - 1.0) / num_updates)
        ramp = distractor_ramp(config, update, num_updates)  # 1 unless --distractor-ramp
        knobs = worlds_of_update(config, update, num_updates, schedule.worlds)  # {} unless a curriculum sets them
        if knobs:  # the same for all runs of a population: they share the env
            env.reconfigure(**knobs)
        relief = (1.0 - ramp) * env.config.distractor_reward  # the distractor reward not yet charged
        rollout.initial_state = {key: v.clone() for key, v in carry.state.items()}

        # 1. Collect: num_steps steps of the run's worlds into device storage; no host reads.
        for step in range(config.num_steps):
            with torch.no_grad():
                out = carry.act(agent, obs)
                action = sample(out.dist, generator)
                logprob = out.dist.log_prob(action)
            for key, value in obs.items():
                rollout.obs[key][step] = value
            rollout.episode_start[step], rollout.valid[step] = carry.episode_start, carry.valid
            rollout.prev_rewards[step], rollout.prev_actions[step] = carry.prev_reward, carry.prev_action
            rollout.actions[step], rollout.logprobs[step], rollout.values[step] = action, logprob, out.value
            internals.record(out.internals)
            obs, true_reward, terminated, truncated, info = yield action  # env.step, once for all the runs
            reward = true_reward
            if relief:  # --distractor-ramp: the agent learns from the ramped reward, logs show the true one
                reward = true_reward - relief * info["distractor_eaten"]
            rollout.rewards[step], rollout.terminated[step], rollout.truncated[step] = reward, terminated, truncated
            carry = carry.advance(out, action, reward, terminated, truncated)  # next-step autoreset rules
            episodes.record(info, true_reward)
        global_step += schedule.batch_size

        # 2. Bootstrap: the value of the observation after the rollout (the env still shows it, so
        # the spatial gain is measured against the target mask here, on the device).
        with torch.no_grad():
            boot = carry.act(agent, obs)
        if "spatial_gain" in boot.internals:
            internals.record_spatial_index(boot.internals, m.mine(_target_mask(env)))
        # 3. Advantages (GAE) and value targets.
        advantages, returns = compute_gae(rollout, boot.value, config.gamma, config.gae_lambda)
        # 4. Optimise the clipped PPO objective.
        stats = ppo_update(agent, optimizer, rollout, advantages, returns, settings,
                           reduce_gradients=m.reduce_gradients, generator=generator)

        # 5. Check, log, checkpoint. The host reads the update's numbers here, once.
        _check_finite(agent, stats, update, global_step, run)
        sums, stop, now = yield UpdateEnd(episodes.sums)  # summed over processes; stop: Ctrl-C or SIGTERM anywhere
        stop = stop or (schedule.max_updates is not None and update - schedule.start_update >= schedule.max_updates)
        steady = steady or (now, global_step)
        sps = (global_step - schedule.start_update * schedule.batch_size) / max(now - run.started, 1e-9)
        log.scalars(global_step, sps, optimizer.param_groups[0]["lr"], stats,
                    {**episodes.read(sums), **internals.read(),
                     **({"charts/distractor_ramp": ramp} if config.distractor_ramp else {}),
                     **({"charts/first_colour_share": env.config.first_colour_share} if config.prior_ramp else {}),
                     **({"charts/clutter": _clutter_drawn(env, schedule.worlds)} if config.clutter_ramp else {})})
        if config.image_interval and (update % config.image_interval == 0 or update == schedule.start_update + 1):
            log.view(global_step, rollout.obs["image"][-1], out.internals.get("spatial_gain"))
        if config.video_interval and update % config.video_interval == 0 and not stop:
            log.video(agent, global_step)
        if stop:
            stopped = True
            break
        if config.checkpoint_interval and update % config.checkpoint_interval == 0 and update < num_updates:
            _save(m, log, update, global_step, env, obs, carry)
    _save(m, log, update, global_step, env, obs, carry)
    return _finish(m, log, update, global_step, schedule, steady, stopped)


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


def _finish(m: Member, log: Logbook, update: int, global_step: int, schedule: Schedule, steady: Optional[tuple],
            stopped: bool) -> TrainResult:
    """The end of a run's call: throughput from the end of its first update, the final video and closing notes."""
    config, run = m.config, m.run
    steps_call = global_step - schedule.start_update * schedule.batch_size
    elapsed_call = time.monotonic() - run.started
    if steady is not None and global_step > steady[1]:
        sps_call = (global_step - steady[1]) / max(time.monotonic() - steady[0], 1e-9)
    elif steps_call == 0 and log.last_sps is not None:  # resumed after its last update: the saved run's
        sps_call = log.last_sps
    else:
        sps_call = steps_call / max(elapsed_call, 1e-9)
    if config.video_interval and update > schedule.start_update:
        log.video(m.agent, global_step)
    elapsed = run.elapsed_before + elapsed_call
    log.close(global_step, update, schedule.num_updates, elapsed, sps_call, stopped)
    return TrainResult(run.run_dir, global_step, update, log.last_return, log.last_score, sps_call, elapsed, stopped,
                       run.reference, sum(p.numel() for p in m.agent.parameters()))


def _member(run: RunState, env, index: int, k: int, device: torch.device, process: distributed.Process) -> Member:
    """Run ``index`` of ``k``: its agent (initialised from its seed, as its separate run), optimizer and
    action generator, and its rows of the shared env."""
    config = run.config
    torch.manual_seed(config.seed)  # the same initial parameters on every process
    agent = make_agent(config, env, run.agent_config).to(device)
    if config.compile:
        compile_agent(agent)
    distributed.broadcast_parameters(agent, process)
    validate(config, recurrent=bool(agent.initial_state(1, device=device)))
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    generator = torch.Generator(device).manual_seed(config.seed * 1_000_003 + process.rank + 1)  # its own actions
    share = env.num_envs // k
    reduce_gradients = distributed.gradient_reducer(agent, process)  # None unless data-parallel
    return Member(run, agent, optimizer, generator, slice(index * share, (index + 1) * share), env.num_envs,
                  reduce_gradients)


def _begin(members: list[Member], env, device: torch.device) -> dict:
    """Start every run's worlds and carry fresh, or restore them all from their checkpoints; the first
    observations of the shared env."""
    restored = [m.run.begin(m.agent, m.optimizer, m.generator) for m in members]
    if all(r is not None for r in restored) and hasattr(env, "set_state"):
        try:
            env.set_state(join_states([r[0] for r in restored]))
        except (ValueError, TypeError, RuntimeError, IndexError, KeyError) as exc:  # shapes or fields of other worlds
            path = os.path.join(members[0].run.config.resume, CHECKPOINT_FILE)
            raise damaged(path, f"its saved worlds do not fit this run's worlds ({first_line(exc)})") from None
        for m, (_, _, carry) in zip(members, restored):
            m.carry = carry
        return join([r[1] for r in restored])
    if any(r is not None for r in restored) and len(members) > 1:
        raise ConfigError("--resume: some runs of the population saved their worlds and some did not; "
                          "allowed: resume each run on its own (--resume RUN_DIR/seed<s>)")
    obs = env.reset(seed=[s for m in members for s in m.run.world_seeds()])[0]
    for m in members:
        m.carry = Carry.start(m.agent, m.rows.stop - m.rows.start, device)
    return obs


def _save(m: Member, log: Logbook, update: int, global_step: int, env, obs: dict, carry: Carry) -> None:
    """The run's checkpoint, with its share of the worlds and its latest logged numbers."""
    state = m.mine_state(env.get_state()) if hasattr(env, "get_state") else None
    m.run.save(update, global_step, m.agent, m.optimizer, m.generator, state, obs, carry, log.last())


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
