"""``python -m agents``: the presets, their parameter counts and what each adds.

Counts are for the default observation: a 24x24 image, a goal of P=6 colours, Discrete(5).
"""

import gymnasium as gym
import numpy as np

from agents.presets import DESCRIPTIONS, PRESETS, make_agent


def default_spaces(size: int = 24, palette: int = 6) -> tuple[gym.spaces.Dict, gym.spaces.Discrete]:
    """The foraging worlds' default single-env spaces."""
    observation_space = gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            "goal": gym.spaces.Box(0.0, 1.0, (palette,), np.float32),
        }
    )
    return observation_space, gym.spaces.Discrete(5)


def main() -> None:
    observation_space, action_space = default_spaces()
    counts = {name: make_agent(name, observation_space, action_space).num_parameters() for name in PRESETS}
    reference = counts["feedforward"]
    print(f"{'preset':<12} {'params':>8} {'vs ff':>6}  adds")
    for name, count in counts.items():
        print(f"{name:<12} {count:>8,} {count / reference - 1:>+6.1%}  {DESCRIPTIONS[name]}")
    spread = max(counts.values()) / min(counts.values()) - 1
    print(f"(24x24 image, P=6 goal, Discrete(5); largest/smallest - 1 = {spread:.1%})")


if __name__ == "__main__":
    main()
