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
agent uses this layer as a readout after its GRU core (x is the core state): Backpropamine's
plastic weights are recurrent (h(t-1) -> h(t)), which this is not.

One step (`PlasticLayer.step`) reads the layer twice, around the write:

    V(t)    = critic(y_before),  y_before = tanh((W + alpha * Hebb(t-1)) x + b)
    M       = delta(t-1) (which needs V(t)) or the learned M
    Hebb(t) = write(Hebb(t-1), E(t-1), M)
    y(t)    = tanh((W + alpha * Hebb(t)) x + b)                          what the policy reads
    E(t)    = trace(E(t-1), y(t), x)

V(t) must not depend on the write that uses it, so the critic reads the trace as it was before this
step's write; the policy reads it after. gamma is the run's discount (the trainer's ``--gamma``, the
one its GAE uses), given to the agent when it is built. The plasticity lesion (``frozen``) skips the
write: the trace stays as it was (0 after a reset) while M is still computed.

Backpropamine learns one alpha per synapse; here alpha is one per postsynaptic neuron, so that
``(alpha * Hebb) x = alpha * (Hebb x)`` needs no (N, Dy, Dx) product: on a CPU the per-synapse
form cost several such products per step, forward and backward, for a few thousand parameters.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from agents.init import layer_init


class PlasticStep(NamedTuple):
    """What one step of the plastic layer gives the agent."""

    y: torch.Tensor  # (N, Dy) the layer after this step's write: what the policy reads
    value: torch.Tensor  # (N,) V(t), read from the layer before the write
    state: dict[str, torch.Tensor]  # "hebb", "eligibility" (N, Dy, Dx) and "prev_value" (N,) for step t+1
    internals: dict[str, torch.Tensor]  # "dopamine" M (N,) and "trace_norm" |Hebb| (N,), detached


class PlasticLayer(nn.Module):
    """y = tanh((W + alpha * Hebb) x + b) with a modulated Hebbian write (module doc).

    ``modulator``: "td" (M = the TD error with discount ``gamma``) or "learned" (Backpropamine's M).
    ``frozen``: the plasticity lesion, set by `Agent.set_lesion`: no write, M still computed.
    """

    def __init__(self, in_size: int, out_size: int, modulator: str, clip: float, gamma: float, eta: float = 0.1):
        super().__init__()
        self.clip = clip
        self.gamma = gamma  # the discount of the TD error (modulator "td")
        self.frozen = False
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

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor], keep: torch.Tensor, reward: torch.Tensor,
             critic: Callable[[torch.Tensor], torch.Tensor]) -> PlasticStep:
        """One step (module doc): x (N, Dx), the layer's state from step t-1, keep (N,) 0 where an episode
        starts, r(t-1) (N,), and the critic that maps y (N, Dy) to V (N,)."""
        hebb = state["hebb"] * keep[:, None, None]  # (N, Dy, Dx)
        # E(t-1) is only read through the write, which M = 0 turns off where an episode starts;
        # trace() zeroes it there before adding outer(y, x).
        eligibility = state["eligibility"]
        drive = self.linear(x)  # W x + b, the same before and after the write
        y_before = self(x, hebb, drive)
        value = critic(y_before)  # V(t)
        # V(t-1) and r(t-1) need no reset: where an episode starts, keep = 0 zeroes M itself.
        modulation = self.modulation(x, reward, value, state["prev_value"]) * keep
        if self.frozen:
            y = y_before
        else:
            hebb = self.write(hebb, eligibility, modulation)
            y = self(x, hebb, drive)
        state = {"hebb": hebb, "eligibility": self.trace(eligibility, y, x, keep),
                 "prev_value": value.detach().clone()}  # not an alias of value: torch.compile-safe
        internals = {"dopamine": modulation.detach(), "trace_norm": hebb.detach().flatten(1).norm(dim=1)}
        return PlasticStep(y, value, state, internals)

    def modulation(self, x: torch.Tensor, reward: torch.Tensor, value: torch.Tensor, prev_value: torch.Tensor
                   ) -> torch.Tensor:
        """The third factor M, (N,): the TD error delta(t-1) = r(t-1) + gamma V(t) - V(t-1) ("td"; a modulatory
        signal, not a path for gradients, so detached), or Backpropamine's M = tanh(w_M . [x, r(t-1)])."""
        if self.modulator is None:
            return (reward + self.gamma * value - prev_value).detach()
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
