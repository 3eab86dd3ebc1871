"""A plastic layer whose Hebbian traces are written by a neuromodulator (three-factor rule).

    y     = tanh((W + alpha * Hebb) x + b)                  (N, Dy); alpha (Dy,), one per neuron
    E    <- (1 - eta) E + eta * outer(y, x)                 eligibility trace, (N, Dy, Dx)
    Hebb <- clip(Hebb + lambda * M * E, -c, c)              the third factor M gates the write
    M     = delta(t-1) = r(t-1) + gamma V(t) - V(t-1)       modulator="td": the agent's own
                                                            reward-prediction error (detached)
    M     = tanh(w_M . [x, r(t-1)])                         modulator="learned" (Backpropamine)

Three-factor learning rules: Fremaux & Gerstner 2016, Frontiers in Neural Circuits,
"Neuromodulated spike-timing-dependent plasticity, and theory of three-factor learning rules".
Differentiable neuromodulated plasticity: Miconi, Rawal, Clune & Stanley 2019, ICLR,
"Backpropamine". W, alpha, eta = sigmoid(eta_logit) and lambda = exp(log_lambda) are trained by
backpropagation through time; Hebb and E are per-episode state, reset at episode start. The
agent (``agents.actor_critic``) computes M and decides when to write; this module holds the maths.
The agent uses this layer as a readout after its GRU core (x is the core state): Backpropamine's
plastic weights are recurrent (h(t-1) -> h(t)), which this is not.

Backpropamine learns one alpha per synapse; here alpha is one per postsynaptic neuron, so that
``(alpha * Hebb) x = alpha * (Hebb x)`` needs no (N, Dy, Dx) product: on a CPU the per-synapse
form cost several such products per step, forward and backward, for a few thousand parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from agents.init import layer_init


class PlasticLayer(nn.Module):
    """y = tanh((W + alpha * Hebb) x + b) with a modulated Hebbian write (module doc)."""

    def __init__(self, in_size: int, out_size: int, modulator: str, clip: float, eta: float = 0.1):
        super().__init__()
        self.clip = clip
        self.linear = layer_init(nn.Linear(in_size, out_size), std=1.0)  # W, b
        self.alpha = nn.Parameter(torch.rand(out_size) / math.sqrt(in_size))  # (Dy,)
        self.eta_logit = nn.Parameter(torch.tensor(math.log(eta / (1.0 - eta))))
        self.log_lambda = nn.Parameter(torch.tensor(0.0))
        self.modulator = layer_init(nn.Linear(in_size + 1, 1), std=1.0) if modulator == "learned" else None

    def forward(self, x: torch.Tensor, hebb: torch.Tensor, drive: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, Dx), Hebb (N, Dy, Dx) -> y (N, Dy). ``drive``: W x + b where the caller has it already (a
        step reads the layer before and after its write, with one x)."""
        # Hebb x, (N, Dy), as a product and a sum: at these sizes (N x 32 x 60) a batched matrix-vector
        # bmm took 2.8x as long, forward and backward, on this project's CPU.
        plastic = (hebb * x[:, None, :]).sum(dim=2)
        return torch.tanh((self.linear(x) if drive is None else drive) + self.alpha * plastic)

    def learned_modulation(self, x: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        """Backpropamine's M = tanh(w_M . [x, r(t-1)]), (N,)."""
        return torch.tanh(self.modulator(torch.cat([x, reward[:, None]], dim=1)))[:, 0]

    def write(self, hebb: torch.Tensor, eligibility: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """Hebb <- clip(Hebb + lambda * M * E, -c, c); modulation M is (N,)."""
        step = (self.log_lambda.exp() * modulation)[:, None, None]  # (N, 1, 1)
        return torch.clamp(torch.addcmul(hebb, eligibility, step), -self.clip, self.clip)

    def trace(self, eligibility: torch.Tensor, y: torch.Tensor, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """E <- keep * (1 - eta) E + eta * outer(y, x); keep (N,) is 0 where an episode starts."""
        eta = torch.sigmoid(self.eta_logit)
        decay = ((1.0 - eta) * keep)[:, None, None]  # (N, 1, 1)
        return torch.addcmul(eligibility * decay, (eta * y)[:, :, None], x[:, None, :])
