"""Agents for RedBerry: actor-critics with switchable brain-like mechanisms.

``make_agent(preset, observation_space, action_space, **overrides)`` builds one; ``PRESETS``
lists them (feedforward, recurrent, early, feedback, whatwhere, dopamine, full). Every agent steps as
``out = agent(obs, state, episode_start, prev_reward, prev_action)`` from ``state = agent.initial_state(N)``;
`agents.runner.Carry` holds that carry and its next-step autoreset rules for every caller.
`agents.probe` measures how each gain-modulated channel is tuned to the palette colours.
"""

from agents.actor_critic import LESIONS, Agent, AgentOutput
from agents.config import AgentConfig
from agents.presets import DESCRIPTIONS, PRESETS, agent_from_config, config_from_dict, make_agent, make_config

__all__ = [
    "LESIONS",
    "Agent",
    "AgentConfig",
    "AgentOutput",
    "DESCRIPTIONS",
    "PRESETS",
    "agent_from_config",
    "config_from_dict",
    "make_agent",
    "make_config",
]
