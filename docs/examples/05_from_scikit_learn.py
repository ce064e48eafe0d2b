# requires: sklearn
# %% [markdown]
# # From scikit-learn's MLPClassifier to xprop's
#
# `xprop.sklearn.MLPClassifier` takes scikit-learn's parameters with their defaults and
# meanings; change the import and the same fit gives the same model. With `solver="lbfgs"`
# both follow SciPy's L-BFGS-B path: on standardised iris the coefficients agree to better
# than 1e-8 relative and `n_iter_` is equal. What xprop adds: `backend=` (the same estimator
# on a GPU or another namespace), `dtype`, and `xprop.gradcheck(est.model_, X, y)`.

# %%
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler

import xprop
from xprop.sklearn import MLPClassifier

X, y = datasets.load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    theirs = SkMLPClassifier(solver="lbfgs", max_iter=50, random_state=1).fit(X, y)
    ours = MLPClassifier(solver="lbfgs", max_iter=50, random_state=1).fit(X, y)
rel = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(ours.coefs_, theirs.coefs_))
print(f"n_iter_: {ours.n_iter_} vs {theirs.n_iter_}; loss {ours.loss_:.10f} vs "
      f"{theirs.loss_:.10f}; coefficients agree to {rel:.1e} relative")
assert ours.n_iter_ == theirs.n_iter_ and rel < 1e-8
assert (ours.predict(X) == theirs.predict(X)).all()

# %% [markdown]
# ## The stochastic solvers
#
# `sgd` and `adam` run scikit-learn's update rules on xprop's training engine; with the same
# `random_state` the loss curves agree to rounding.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    theirs = SkMLPClassifier(solver="adam", max_iter=30, random_state=0).fit(X, y)
    ours = MLPClassifier(solver="adam", max_iter=30, random_state=0).fit(X, y)
gap = np.max(np.abs(np.array(ours.loss_curve_) - theirs.loss_curve_))
print(f"adam, 30 epochs: largest loss-curve difference {gap:.1e}")
assert gap < 1e-10

# %% [markdown]
# ## What xprop adds: the gradient check on the fitted network

# %%
report = xprop.gradcheck(ours.model_, X, y)
print(report)
assert report.verdict == "passed"
