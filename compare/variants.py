"""The trained agents are *variants* of the presets, named `PRESET[_T<k>][@<difficulty>][+NAME=VALUE...]`.

`feedback_T3` is the feedback preset trained with T = 3 passes, `feedback_T3@hard` the same trained
on hard worlds (without `@`, the plan's training difficulty), `feedback+modulator=learned+plastic=True`
the feedback preset with those AgentConfig fields, `feedback+taste=True` trained in worlds with that
knob. A run given with `--from` gets the name of what it was trained with (`variant_of_run`), so two
variants of one preset stand side by side in one compare.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Optional

import agents
import envs
from agents.config import FIELDS
from common.flags import first_line
from compare.errors import CompareError
from envs.config import DIFFICULTIES


@dataclass(frozen=True)
class Variant:
    """A preset trained with another T, on another difficulty (None: the preset's, the plan's), with
    other agent settings (`agent`: AgentConfig fields) and/or in other worlds (`world`: world knobs),
    each a sorted tuple of (name, value)."""

    preset: str
    passes: Optional[int] = None
    difficulty: Optional[str] = None
    agent: tuple[tuple[str, Any], ...] = ()
    world: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """The canonical name: `PRESET[_T<k>][@DIFFICULTY][+NAME=VALUE...]`, the settings sorted by name."""
        settings = "".join(f"+{k}={format_setting(v)}" for k, v in sorted(self.agent + self.world))
        return (self.preset + (f"_T{self.passes}" if self.passes is not None else "")
                + (f"@{self.difficulty}" if self.difficulty else "") + settings)

    @property
    def base(self) -> str:
        """The name without the +settings: the variant they change (the matched control of a verdict)."""
        return Variant(self.preset, self.passes, self.difficulty).name


_VARIANT = re.compile(r"^(?P<preset>[a-z]+)(?:_T(?P<passes>\d+))?(?:@(?P<difficulty>[a-z]+))?"
                      r"(?P<settings>(?:\+[a-z_]+=[^+=\s]+)*)$")
AGENT_SETTINGS = tuple(FIELDS)  # +NAME=VALUE for these sets the agent (--agent-overrides)
# +NAME=VALUE for these sets the training worlds (--env-kwargs); the plan and the id decide the others
WORLD_SETTINGS = tuple(f.name for f in dataclasses.fields(envs.WorldConfig)
                       if f.name not in ("task", "difficulty", "max_episode_steps", "version"))  # the id sets version
VARIANT_GRAMMAR = (f"PRESET[_T<k>][@DIFFICULTY][+NAME=VALUE...] with PRESET one of {', '.join(agents.PRESETS)} "
                   f"(e.g. feedback_T3, feedback_T3@hard, feedback+modulator=learned+plastic=True); _T only for presets "
                   f"with top-down feedback; DIFFICULTY one of {', '.join(DIFFICULTIES)}; NAME an AgentConfig field "
                   f"or a world knob, the settings sorted by NAME")


def format_setting(value: Any) -> str:
    """A setting's value as a variant name writes it: True, 20, 0.25, learned, 16,32,32."""
    if isinstance(value, (tuple, list)):
        return ",".join(format_setting(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def parse_setting(text: str) -> Any:
    """The inverse of `format_setting`: True/False, an int, a float, a comma list, else the string."""
    if "," in text:
        return tuple(parse_setting(t) for t in text.split(","))
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_variant(name: str) -> Variant:
    """'feedback_T3@hard+plastic=True' -> Variant('feedback', 3, 'hard', (('plastic', True),));
    bad names raise CompareError (--agents). The agent settings are checked against the preset here; the
    world settings against a task in `preset_unit`, which knows it."""
    match = _VARIANT.match(name) if isinstance(name, str) else None
    if not match or match["preset"] not in agents.PRESETS:
        raise CompareError(f"--agents: {name!r} not known; valid: {VARIANT_GRAMMAR}")
    pairs = [item.split("=", 1) for item in match["settings"].split("+")[1:]]
    agent = tuple((k, parse_setting(v)) for k, v in pairs if k in AGENT_SETTINGS)
    world = tuple((k, parse_setting(v)) for k, v in pairs if k in WORLD_SETTINGS)
    variant = Variant(match["preset"], int(match["passes"]) if match["passes"] else None, match["difficulty"],
                      agent, world)
    unknown = [k for k, _ in pairs if k not in AGENT_SETTINGS + WORLD_SETTINGS]
    problem = (
        f"sets {unknown}, which are neither AgentConfig fields nor world knobs (the plan decides difficulty and "
        f"max_episode_steps)" if unknown else
        "sets passes with +passes=; write it as _T<k>" if any(k == "passes" for k, _ in pairs) else
        "sets T on a preset without top-down feedback, or T < 1" if variant.passes is not None and (
            variant.passes < 1 or not agents.PRESETS[variant.preset].feedback) else
        f"is the preset itself (T = {variant.passes} is its own); write it as {variant.preset!r}"
        if variant.passes is not None and variant.passes == agents.PRESETS[variant.preset].passes else
        f"names difficulty {variant.difficulty!r}" if variant.difficulty not in (None, *DIFFICULTIES) else
        "sets a name twice" if len({k for k, _ in pairs}) != len(pairs) else
        f"is not in canonical form; write it as {variant.name!r}" if variant.name != name else None)
    if problem:
        raise CompareError(f"--agents: {name!r} {problem}; valid: {VARIANT_GRAMMAR}")
    try:
        agents.make_config(variant.preset, **dict(agent))
    except ValueError as exc:
        raise CompareError(f"--agents: {name!r}: {first_line(exc)}; valid: {VARIANT_GRAMMAR}") from None
    return variant


def variant_of_run(task: str, preset: str, difficulty: str, agent_config, world: dict[str, Any]) -> Variant:
    """The variant a trained run is: its T, its difficulty if not easy, every AgentConfig field that
    differs from its preset's and every world setting (beyond difficulty and episode length) that differs
    from its task's default at that difficulty."""
    base = agents.PRESETS[preset]
    changed = tuple((f, getattr(agent_config, f)) for f in AGENT_SETTINGS
                    if f != "passes" and getattr(agent_config, f) != getattr(base, f))
    default = envs.world_config(task, difficulty)
    worlds = envs.world_config(task, difficulty, **{k: v for k, v in world.items() if k in WORLD_SETTINGS})
    world_changed = tuple((k, getattr(worlds, k)) for k in WORLD_SETTINGS if getattr(worlds, k) != getattr(default, k))
    passes = None if agent_config.passes == base.passes else agent_config.passes
    return Variant(preset, passes, None if difficulty == "easy" else difficulty, tuple(sorted(changed)),
                   tuple(sorted(world_changed)))


def trainer_overrides(agent: str) -> dict[str, Any]:
    """The trainer's --agent-overrides of a variant ({} for a plain preset)."""
    variant = parse_variant(agent)
    return {**({} if variant.passes is None else {"passes": variant.passes}), **dict(variant.agent)}
