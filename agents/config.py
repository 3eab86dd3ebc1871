"""The agent's configuration: one dataclass, the single source of truth for its architecture."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

CORES = ("none", "gru")
GOAL_PATHWAYS = ("late", "early", "topdown")
TOP_DOWN_INPUTS = ("goal", "core", "top")  # what the top-down signal z may read, in this order
MODULATORS = ("td", "learned")


@dataclass(frozen=True)
class AgentConfig:
    """Architecture of one agent. Every field is JSON-serialisable; checkpoints store asdict().

    The discount of the dopamine TD error is not here: it is the run's (`Agent`'s ``gamma``, which the
    trainer sets from its ``--gamma``). Configs saved with the field of old load (`agents.agent_from_config`).
    """

    channels: tuple[int, ...] = (16, 32, 32)
    """Output channels of the conv layers, bottom to top (3x3 kernels, padding 1)."""
    strides: tuple[int, ...] = (2, 2, 1)
    """Stride of each conv layer; (2, 2, 1) takes a 24x24 view to a 6x6 top map."""
    grid: int = 6
    """The top conv map is average-pooled to grid x grid before flattening (size-independent params)."""
    embed: int = 64
    """Width of the trunk's top features (the input to the core, with the goal)."""
    hidden: int = 64
    """Width of the core: the MLP layer (core="none") or the GRU state (core="gru")."""
    core: str = "gru"
    """"none": one MLP layer, no memory; "gru": a GRU cell, lateral recurrence."""
    goal_pathway: str = "late"
    """Where the goal enters vision (it is always also concatenated after the trunk): "late" (only
    there: late fusion, the usual deep-RL agent); "early" (also P constant input planes beside RGB
    at conv1: additive early fusion, still feedforward); "topdown" (also a multiplicative top-down
    channel and spatial gain on the early conv layers, from goal + core state: feedback)."""
    passes: int = 1
    """T, passes through the trunk per step; pass k uses the gains from pass k-1 (feedback only)."""
    gain_layers: int = 2
    """How many of the early conv layers (from the bottom) receive the top-down gain."""
    top_down: int = 32
    """Width of the top-down signal z."""
    gain_strength: float = 1.0
    """beta in the channel gain g = relu(1 + beta * tanh(W_g z))."""
    goal_template: float = 0.5
    """Init std of T, the goal's own feature template added to W_g z and W_q z (topdown); 0 = no T,
    the goal reaches the gains only through z, mixed with h(t-1) and the top features (state-only feedback:
    `feedback+goal_template=0.0`)."""
    top_down_inputs: str = "goal+core+top"
    """What z reads, joined by "+" in the order goal, core (h(t-1)), top (the previous pass's top features).
    "goal" alone is the goal-only gate (`feedback+top_down_inputs=goal`): multiplicative goal conditioning
    (FiLM-like, Perez et al. 2018; the gated attention of Chaplot et al. 2018), not feedback from state."""
    spatial_strength: float = 0.9
    """beta_s in the attention field m = 1 + beta_s * tanh(conv(...)), in [0, 1); s = m / mean(m)."""
    whatwhere: bool = False
    """Replace the flattened top with gated what (pooled) and where (keypoint) streams."""
    what_channels: int = 32
    """Channels of the ventral (what) stream's conv layer."""
    keypoints: int = 16
    """K, channels of the dorsal (where) stream, each giving one expected (x, y)."""
    plastic: bool = False
    """A plastic layer after the core, with neuromodulated Hebbian traces."""
    plastic_size: int = 32
    """Width of the plastic layer's output y."""
    modulator: str = "td"
    """Third factor of the Hebbian write: "td" (own TD error) or "learned" (Backpropamine)."""
    hebb_clip: float = 1.0
    """c: the Hebbian trace is clipped to [-c, c]."""
    reward_input: bool = True
    """The core reads r(t-1), the reward of the transition into this observation (0 at an episode start),
    as the meta-RL convention feeds it (Wang et al. 2018; Duan et al. 2016, RL^2; Backpropamine's code), so
    that every agent receives its rewards, not only the plastic one. Checkpoints from before the field
    load with False, as they were trained."""
    action_input: bool = True
    """The core reads a(t-1), the previous action (one-hot for Discrete, the sampled vector for Box; 0 at
    an episode start). Checkpoints from before the field load with False."""

    @property
    def feedback(self) -> bool:
        """The agent has top-down feedback gain (goal_pathway == "topdown")."""
        return self.goal_pathway == "topdown"

    def __post_init__(self) -> None:
        # Lists (from JSON) become tuples, so a round-tripped config compares equal.
        for name in ("channels", "strides"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        _check(self)


MAX_WIDTH = 4096  # the largest width, size or count a field may take (larger is an allocator error)


def _positive_ints(name: str, value: object) -> None:
    if not (isinstance(value, tuple) and value and all(isinstance(v, int) and 0 < v <= MAX_WIDTH for v in value)):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints <= {MAX_WIDTH}, got {value!r}")


def _check(config: AgentConfig) -> None:
    _positive_ints("channels", config.channels)
    _positive_ints("strides", config.strides)
    if len(config.strides) != len(config.channels):
        raise ValueError(
            f"strides must have one entry per conv layer: channels={config.channels!r}, strides={config.strides!r}"
        )
    for name in ("grid", "embed", "hidden", "passes", "top_down", "what_channels", "keypoints", "plastic_size"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WIDTH:
            raise ValueError(f"{name} must be an int from 1 to {MAX_WIDTH}, got {value!r}")
    if config.core not in CORES:
        raise ValueError(f"core must be one of {CORES}, got {config.core!r}")
    if config.goal_pathway not in GOAL_PATHWAYS:
        raise ValueError(f"goal_pathway must be one of {GOAL_PATHWAYS}, got {config.goal_pathway!r}")
    if config.modulator not in MODULATORS:
        raise ValueError(f"modulator must be one of {MODULATORS}, got {config.modulator!r}")
    for name in ("whatwhere", "plastic", "reward_input", "action_input"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be a bool, got {getattr(config, name)!r}")
    inputs = config.top_down_inputs.split("+") if isinstance(config.top_down_inputs, str) else None
    if not inputs or any(i not in TOP_DOWN_INPUTS for i in inputs) or inputs != sorted(
            set(inputs), key=TOP_DOWN_INPUTS.index):
        raise ValueError(f"top_down_inputs must name some of {TOP_DOWN_INPUTS} once each, in that order, joined by "
                         f"'+' (e.g. 'goal+core+top' or 'goal'), got {config.top_down_inputs!r}")
    if "core" in inputs and config.core != "gru" and config.top_down_inputs != AgentConfig.top_down_inputs:
        raise ValueError(f"top_down_inputs={config.top_down_inputs!r} reads the core state, which core='none' has not; "
                         f"allowed: leave out 'core'")
    if config.passes > 1 and "top" not in inputs:
        raise ValueError(f"passes={config.passes} with top_down_inputs={config.top_down_inputs!r}: without the top "
                         f"features every pass gets the same gains; allowed: passes=1, or add 'top'")
    if config.passes > 1 and not config.feedback:
        raise ValueError(f"passes={config.passes} needs goal_pathway='topdown': without feedback every pass is the same")
    # With what/where the top conv layer belongs to the streams; only the shared layers get gains.
    shared = len(config.channels) - 1 if config.whatwhere else len(config.channels)
    if config.whatwhere and shared < 1:
        raise ValueError(f"whatwhere needs at least 2 conv layers (shared + streams), got channels={config.channels!r}")
    if config.feedback and not 1 <= config.gain_layers <= shared:
        raise ValueError(f"gain_layers must be in [1, {shared}] (the shared conv layers), got {config.gain_layers!r}")
    if not config.hebb_clip > 0:
        raise ValueError(f"hebb_clip must be > 0, got {config.hebb_clip!r}")
    if not config.goal_template >= 0:
        raise ValueError(f"goal_template must be >= 0 (0 = no template), got {config.goal_template!r}")
    if not config.gain_strength >= 0:
        raise ValueError(f"gain_strength must be >= 0, got {config.gain_strength!r}")
    if config.feedback and not 0 <= config.spatial_strength < 1:
        raise ValueError(f"spatial_strength must be in [0, 1) so the attention field stays positive, "
                         f"got {config.spatial_strength!r}")


FIELDS = tuple(field.name for field in dataclasses.fields(AgentConfig))
