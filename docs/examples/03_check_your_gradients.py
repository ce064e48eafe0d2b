# %% [markdown]
# # Checking your own derivatives
#
# You wrote an activation (here swish, `f(z) = z sigmoid(z)`) and its derivative. Before
# training with it, check the derivative against finite differences: `xprop.check_activation`
# does that on seeded random inputs, and `xprop.check_gradients` checks any function you give
# it. A planted bug, a derivative off by a relative 1e-6, is found; the correct one passes.

# %%
import numpy as np

import xprop


def swish(z, xp):
    return z / (1.0 + xp.exp(-z))


def swish_derivative(z, a, xp):  # f'(z) = s + z s (1 - s), s = sigmoid(z)
    s = 1.0 / (1.0 + xp.exp(-z))
    return s + z * s * (1.0 - s)


def swish_derivative_buggy(z, a, xp):  # one part in a million too large
    return swish_derivative(z, a, xp) * (1.0 + 1e-6)


good = xprop.make_activation("swish", swish, swish_derivative)
bad = xprop.make_activation("swish_buggy", swish, swish_derivative_buggy)
report = xprop.check_activation(good)
print(report)
assert report.verdict == "passed"

# %% [markdown]
# ## Reading the report, column by column
#
# - `checked`: entries compared; `kinks`: entries on a kink (not judged; only for
#   activations that declare one, like ReLU).
# - `max error`: the largest `|numeric - analytic|` among them.
# - `tol`: the tolerance of that entry, `10 x (its error estimate) + a floor`: the estimate is
#   Richardson's truncation term plus the measured rounding error of `f` divided by the step.
#   A correct gradient stays below it; nothing here is a fixed tolerance.
# - `worst`: the index of the entry closest to failing, and its `numeric` and `analytic`
#   values.
# - `verdict`: passed, FAILED, or inconclusive ("too small to resolve": the check could not
#   have seen a 10% error there, e.g. a saturated unit).

# %%
buggy = xprop.check_activation(bad)
print(buggy)
assert buggy.verdict == "FAILED"

# %% [markdown]
# ## Any function: `check_gradients(f, inputs, grads)`
#
# `f(W) = sum(tanh(X @ W))` has the gradient `X.T @ (1 - tanh(X @ W)^2)`. A slip in one entry
# of the claimed gradient, a relative 1e-5, is found and named.

# %%
rng = np.random.default_rng(0)
X, W = rng.standard_normal((5, 3)), rng.standard_normal((3, 2))


def f(W):
    return np.sum(np.tanh(X @ W))


grad = X.T @ (1.0 - np.tanh(X @ W) ** 2)
print(xprop.check_gradients(f, [W], [grad], names=["W"]))
slipped = grad.copy()
slipped[1, 0] *= 1.0 + 1e-5
report = xprop.check_gradients(f, [W], [slipped], names=["W"])
print(report)
assert xprop.check_gradients(f, [W], [grad], names=["W"]).verdict == "passed"
assert report.verdict == "FAILED" and "1,0" in str(report)
