# %% [markdown]
# # Backpropagation by hand, then by xprop
#
# A 2-2-2 network with sigmoid units everywhere, trained on the "total error"
# `E = 1/2 sum (target - out)^2` (xprop's `half_sse`). The weights are the classic worked
# example's: `w1..w4` from the inputs to the hidden units, `w5..w8` from the hidden units to
# the outputs, biases 0.35 and 0.60. In xprop's notation `W_0[i, j]` joins input `i` to
# hidden unit `j`, so `W_0 = [[w1, w3], [w2, w4]]`.
#
# Every number quoted in this page is asserted by the script, so the page cannot drift from
# the code.

# %%
import math

import numpy as np

import xprop

W0 = [[0.15, 0.25], [0.20, 0.30]]
W1 = [[0.40, 0.50], [0.45, 0.55]]
biases = [[0.35, 0.35], [0.60, 0.60]]
X, Y = [[0.05, 0.10]], [[0.01, 0.99]]
model = xprop.MLP.from_arrays([W0, W1], biases, "sigmoid", "sigmoid", "half_sse")
print(model)

# %% [markdown]
# ## The forward pass, one unit at a time
#
# `net_h1 = w1 i1 + w2 i2 + b1 = 0.15 * 0.05 + 0.20 * 0.10 + 0.35 = 0.3775`, and
# `out_h1 = 1 / (1 + exp(-0.3775)) = 0.593269992`.

# %%
def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


net_h1 = 0.15 * 0.05 + 0.20 * 0.10 + 0.35
out_h1 = sigmoid(net_h1)
print(f"net_h1 = {net_h1:.9g}, out_h1 = {out_h1:.9g}")
assert round(net_h1, 9) == 0.3775 and round(out_h1, 9) == 0.593269992

# %% [markdown]
# ## The same pass, every number at once
#
# `xprop.trace` runs the library's own forward and backward pass and prints each quantity
# beside its formula. The total error is 0.298371109; the gradient of `w5` (`dW_1[0, 0]`) is
# 0.0821670406.

# %%
t = xprop.trace(model, X, Y, lr=0.5)
print(t)
assert abs(t.layers[0].A_out[0, 0] - out_h1) < 1e-15
assert round(t.loss, 9) == 0.298371109
assert round(float(t.layers[1].dW[0, 0]), 10) == 0.0821670406

# %% [markdown]
# ## The chain rule for `w5`, by hand
#
# `dE/dw5 = dE/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw5 = (out_o1 - target_o1) *
# out_o1 (1 - out_o1) * out_h1`: the first two factors are `dZ_1[0, 0]`, the third is
# `A_1[0, 0]`, and `dW_1 = A_1.T @ dZ_1` multiplies them.

# %%
out_o1 = float(t.output[0, 0])
by_hand = (out_o1 - 0.01) * out_o1 * (1 - out_o1) * out_h1
print(f"dE/dw5 by hand = {by_hand:.10g}, by xprop = {t.layers[1].dW[0, 0]:.10g}")
assert abs(by_hand - t.layers[1].dW[0, 0]) < 1e-15

# %% [markdown]
# ## One update, then many
#
# One gradient step of rate 0.5 gives `w5' = 0.4 - 0.5 * 0.0821670406 = 0.35891648`. xprop
# also updates the biases (the classic example keeps them fixed), so after the first step its
# numbers part from the example's. Ten thousand full-batch steps take the error from
# 0.298371109 to 2.45e-06 and the outputs to 0.0116 and 0.988.

# %%
print(f"w5 after one step: {t.updated['W1'][0, 0]:.9g}")
assert round(float(t.updated["W1"][0, 0]), 8) == 0.35891648
history = model.fit(X, Y, optimizer="sgd", lr=0.5, epochs=10000)
print(f"error: {history.loss[0]:.9g} -> {history.loss[-1]:.3g}")
print("outputs:", np.round(xprop.to_numpy(model.predict_output(X)), 4))
assert round(history.loss[0], 9) == 0.298371109
assert f"{history.loss[-1]:.3g}" == "2.45e-06"
assert np.allclose(xprop.to_numpy(model.predict_output(X)), [[0.0116, 0.988]], atol=5e-4)
