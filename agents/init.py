"""Weight initialisation shared by the agent modules (CleanRL's ``layer_init``)."""

from __future__ import annotations

import math

from torch import nn


def layer_init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with gain ``std`` and a constant bias, as CleanRL's PPO does."""
    nn.init.orthogonal_(layer.weight, std)
    if layer.bias is not None:
        nn.init.constant_(layer.bias, bias)
    return layer
