# requires: array_api_strict
# %% [markdown]
# # From NumPy to another backend and device
#
# The same model code runs on every Array API namespace. A model made with a seed has
# bit-identical weights everywhere (they are drawn on the host); `model.to(...)` copies one to
# another backend and device; the outputs and gradients then agree to rounding (in float64,
# within 1e-13 here: the script asserts it). Here NumPy, array-api-strict (its `device1`, a
# stand-in for a second device that refuses to mix with the default one) and, when
# installed, PyTorch and JAX.

# %%
import importlib.util

import numpy as np

import xprop

if importlib.util.find_spec("jax"):  # float64 on JAX is opt-in, before any array is made
    import jax

    jax.config.update("jax_enable_x64", True)

X, y = xprop.datasets.moons(64, noise=0.1, seed=0)
model = xprop.MLP([2, 8, 8, 2], "tanh", "softmax", "cross_entropy", seed=0)
model.fit(X, y, optimizer="adam", lr=0.01, epochs=50)
reference = xprop.to_numpy(model.predict_output(X))
Xd, Y, _ = model.prepare(X, y)
ref_grads = {k: xprop.to_numpy(v) for k, v in model.backward(model.forward(Xd)[1], Y).items()}

targets = [("array_api_strict", "device1")]
targets += [(name, None) for name in ("torch", "jax") if importlib.util.find_spec(name)]
worst = 0.0
for name, device in targets:
    other = model.to(name, device)
    out = other.predict_output(X)  # host data goes to the model's device
    assert other.backend.owns(out)  # an array of that namespace, on that device
    Xo, Yo, _ = other.prepare(X, y)
    grads = other.backward(other.forward(Xo)[1], Yo)
    diff = max(np.max(np.abs(xprop.to_numpy(out) - reference)),
               *(np.max(np.abs(xprop.to_numpy(grads[k]) - g)) for k, g in ref_grads.items()))
    worst = max(worst, diff)
    print(f"{other.backend.describe():<32} largest difference from NumPy: {diff:.1e}")
assert worst < 1e-13

# %% [markdown]
# ## Same seed, same weights, on every backend

# %%
strict = xprop.MLP([2, 8, 8, 2], "tanh", "softmax", "cross_entropy", seed=0,
                   backend="array_api_strict")
fresh = xprop.MLP([2, 8, 8, 2], "tanh", "softmax", "cross_entropy", seed=0)
for k, v in fresh.to_numpy_parameters().items():
    assert np.array_equal(v, strict.to_numpy_parameters()[k])
print("seeded weights: bit-identical on numpy and array_api_strict")

# %% [markdown]
# ## Devices do not mix silently
#
# An array on another device is refused with a one-line error naming it; `model.to` moves
# the model instead.

# %%
import array_api_strict as xps  # noqa: E402

on_device1 = xps.asarray(X, device=xps.Device("device1"))
try:
    strict.predict(on_device1)  # strict's model lives on the default device
except Exception as e:  # the message is the point
    print(type(e).__name__, ":", e)
    assert "device" in str(e)
else:
    raise AssertionError("a device mismatch went through")
