"""scikit-learn's stochastic MLP solvers, on xprop's flat parameter buffer.

The update rules of ``sklearn.neural_network._stochastic_optimizers``, written once against the
Array API for one flat buffer ``p`` and its gradient ``g`` (scikit-learn updates each array in
a list the same way, elementwise, so the results agree to the last bit where the operations
are the same):

- ``SGDSolver``: ``v = momentum v - lr g``; with Nesterov's momentum the step is
  ``momentum v - lr g`` (the new ``v``), else ``v``; ``p += step``. Learning rate schedules
  ``constant``, ``invscaling`` (``lr = lr_init / (t + 1)^power_t`` after every batch, ``t``
  the samples seen) and ``adaptive`` (divided by 5 when the loss stops improving, stopping
  below 1e-6).
- ``AdamSolver``: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
  ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``p -= lr_t m / (sqrt(v) + eps)``.

State arrays are replaced, never updated in place, so they work on immutable namespaces;
the parameter buffer is updated in place where the namespace allows (``Backend.mutable``).
"""

from __future__ import annotations

import math
from typing import Any

Array = Any

__all__ = ["AdamSolver", "OptimizerSolver", "SGDSolver"]


class _Solver:
    def __init__(self, learning_rate_init: float) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)

    def iteration_ends(self, time_step: int) -> None:
        """Called after every epoch with the number of samples seen."""

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        """The loss stopped improving: True to stop (printing ``msg`` when verbose)."""
        if verbose:
            print(msg + " Stopping.")
        return True

    def step(self, p: Array, g: Array, xp: Any, mutable: bool) -> Array:
        """The parameters after one update (``p`` itself where ``mutable``)."""
        step = self._step(g, xp)
        if mutable:
            p += step
            return p
        return p + step

    def _step(self, g: Array, xp: Any) -> Array:
        raise NotImplementedError


class SGDSolver(_Solver):
    """scikit-learn's ``SGDOptimizer`` (see the module docstring)."""

    def __init__(self, learning_rate_init: float, lr_schedule: str, momentum: float,
                 nesterov: bool, power_t: float) -> None:
        super().__init__(learning_rate_init)
        self.lr_schedule, self.momentum, self.nesterov = lr_schedule, momentum, nesterov
        self.power_t = power_t
        self.velocity: Array | None = None

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False

    def _step(self, g: Array, xp: Any) -> Array:
        v = xp.zeros_like(g) if self.velocity is None else self.velocity
        v = self.momentum * v - self.learning_rate * g
        self.velocity = v
        if self.nesterov:
            return self.momentum * v - self.learning_rate * g
        return v


class AdamSolver(_Solver):
    """scikit-learn's ``AdamOptimizer`` (see the module docstring)."""

    def __init__(self, learning_rate_init: float, beta_1: float, beta_2: float,
                 epsilon: float) -> None:
        super().__init__(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.m: Array | None = None
        self.v: Array | None = None

    def _step(self, g: Array, xp: Any) -> Array:
        self.t += 1
        m = xp.zeros_like(g) if self.m is None else self.m
        v = xp.zeros_like(g) if self.v is None else self.v
        self.m = self.beta_1 * m + (1 - self.beta_1) * g
        self.v = self.beta_2 * v + (1 - self.beta_2) * (g * g)
        self.learning_rate = (self.learning_rate_init * math.sqrt(1 - self.beta_2**self.t)
                              / (1 - self.beta_1**self.t))
        return -self.learning_rate * self.m / (xp.sqrt(self.v) + self.epsilon)


class OptimizerSolver(_Solver):
    """An :class:`xprop.optimizers.Optimizer` in a solver's place (xprop's estimators take
    one as ``optimizer=``): its own update rule and learning rate, the estimator's stopping
    rules."""

    def __init__(self, optimizer: Any) -> None:
        super().__init__(optimizer.lr)
        self.optimizer = optimizer

    def step(self, p: Array, g: Array, xp: Any, mutable: bool) -> Array:
        return self.optimizer.update(p, g, xp)
