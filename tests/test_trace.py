"""xprop.trace: every number of one pass, the library's own, and a hand-computed example."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import xprop
from tests.helpers import make_data

# The classic worked example of a 2-2-2 sigmoid network trained on the "total error"
# 1/2 sum (target - out)^2: inputs (0.05, 0.10), targets (0.01, 0.99), weights w1..w8 and
# biases 0.35 / 0.60, one step of lr 0.5. W0[i, j] joins input i to hidden j.
W0 = [[0.15, 0.25], [0.20, 0.30]]
W1 = [[0.40, 0.50], [0.45, 0.55]]
B = [[0.35, 0.35], [0.60, 0.60]]
X1, Y1 = [[0.05, 0.10]], [[0.01, 0.99]]


def _worked_model(**kwargs):
    return xprop.MLP.from_arrays([W0, W1], B, "sigmoid", "sigmoid", "half_sse", **kwargs)


def _by_hand():
    """The example's numbers with scalar Python arithmetic, formula by formula."""
    def sig(z):
        return 1.0 / (1.0 + math.exp(-z))

    x, t = X1[0], Y1[0]
    z0 = [x[0] * W0[0][j] + x[1] * W0[1][j] + B[0][j] for j in range(2)]
    a1 = [sig(z) for z in z0]
    z1 = [a1[0] * W1[0][j] + a1[1] * W1[1][j] + B[1][j] for j in range(2)]
    a2 = [sig(z) for z in z1]
    loss = sum(0.5 * (t[j] - a2[j]) ** 2 for j in range(2))
    dz1 = [(a2[j] - t[j]) * a2[j] * (1 - a2[j]) for j in range(2)]
    dw1 = [[a1[i] * dz1[j] for j in range(2)] for i in range(2)]
    da1 = [sum(dz1[j] * W1[i][j] for j in range(2)) for i in range(2)]
    dz0 = [da1[i] * a1[i] * (1 - a1[i]) for i in range(2)]
    dw0 = [[x[i] * dz0[j] for j in range(2)] for i in range(2)]
    dx = [sum(dz0[j] * W0[i][j] for j in range(2)) for i in range(2)]
    return dict(z0=z0, a1=a1, z1=z1, a2=a2, loss=loss, dz1=dz1, dw1=dw1, da1=da1, dz0=dz0,
                dw0=dw0, dx=dx)


def test_the_worked_example_by_hand():
    t = xprop.trace(_worked_model(), X1, Y1, lr=0.5)
    hand = _by_hand()
    first, second = t.layers
    assert isinstance(t.X, np.ndarray) and t.X.dtype == np.float64 and t.X.shape == (1, 2)
    assert len(t.layers) == 2 and second.dW.shape == (2, 2) and first.dA.shape == (1, 2)
    for got, want in ((first.Z[0], hand["z0"]), (first.A_out[0], hand["a1"]),
                      (second.Z[0], hand["z1"]), (t.output[0], hand["a2"]),
                      (second.dZ[0], hand["dz1"]), (second.dW, hand["dw1"]),
                      (second.db, hand["dz1"]), (second.dA[0], hand["da1"]),
                      (first.dZ[0], hand["dz0"]), (first.dW, hand["dw0"]),
                      (first.db, hand["dz0"]), (first.dA[0], hand["dx"])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert t.loss == pytest.approx(hand["loss"], rel=1e-12)
    # and the figures the example is known by (published to 9 digits)
    assert round(t.loss, 9) == 0.298371109
    assert round(float(second.dW[0, 0]), 9) == 0.082167041
    np.testing.assert_allclose(t.updated["W1"], [[0.35891648, 0.51130127],
                                                 [0.408666186, 0.561370121]], atol=5e-9)
    np.testing.assert_allclose(t.updated["W0"], [[0.149780716, 0.24975114],
                                                 [0.19956143, 0.29950229]], atol=5e-9)


def test_the_numbers_are_backwards_bit_for_bit(case64):
    """The trace's gradients are what MLP.backward returns and one step of lr is what fit
    takes: equal bits, on every backend."""
    X, y = make_data("cross_entropy", 7, 3, 4, seed=1)
    model = xprop.MLP([3, 5, 4, 4], ["tanh", "relu"], "softmax", "cross_entropy", seed=2,
                      dtype=case64.dtype, backend=case64.backend)
    t = xprop.trace(model, X, y, lr=0.1)
    Xd, Y, _ = model.prepare(X, y)
    out, cache = model.forward(Xd)
    grads = model.backward(cache, Y, input_grad=True)
    for i, layer in enumerate(t.layers):
        assert layer.dW.dtype == np.float64
        np.testing.assert_array_equal(layer.dW, xprop.to_numpy(grads[f"W{i}"]))
        np.testing.assert_array_equal(layer.db, xprop.to_numpy(grads[f"b{i}"]))
        np.testing.assert_array_equal(layer.Z, xprop.to_numpy(cache.pre[i]))
        np.testing.assert_array_equal(layer.A_in, xprop.to_numpy(cache.inputs[i]))
    np.testing.assert_array_equal(t.layers[0].dA, xprop.to_numpy(grads["X"]))
    np.testing.assert_array_equal(t.output, xprop.to_numpy(out))
    assert t.loss == model.loss(X, y)
    # the recorded deltas are the backward pass's own: dW_i = A_i.T @ dZ_i, dZ from dA
    for layer in t.layers:
        np.testing.assert_allclose(layer.A_in.T @ layer.dZ, layer.dW, rtol=1e-13, atol=1e-16)
    relu_grad = (t.layers[1].Z > 0) * t.layers[2].dA
    np.testing.assert_array_equal(t.layers[1].dZ, relu_grad)
    np.testing.assert_allclose(t.layers[0].dZ, (1 - t.layers[0].A_out ** 2) * t.layers[1].dA,
                               rtol=1e-14)
    model.fit(X, y, optimizer="sgd", lr=0.1, epochs=1, batch_size=len(y),
              config=xprop.FitConfig(shuffle=False))
    # JAX's fit runs compiled (XLA fuses and reorders): equal to rounding, not bit for bit
    rtol = 1e-13 if case64.id.startswith("jax") else 0.0
    for name, value in model.to_numpy_parameters().items():
        np.testing.assert_allclose(t.updated[name], value, rtol=rtol, atol=0)


def test_a_trace_is_a_snapshot_and_leaves_the_model_alone():
    model = _worked_model()
    before = {k: v.copy() for k, v in model.to_numpy_parameters().items()}
    t = xprop.trace(model, X1, Y1, lr=0.5)
    for k, v in model.to_numpy_parameters().items():
        np.testing.assert_array_equal(v, before[k])
    model.fit(X1, Y1, optimizer="sgd", lr=0.5, epochs=1)
    np.testing.assert_array_equal(t.layers[0].W, W0)  # not a view of the trained buffer


def test_printing_shows_formulas_and_values_and_elides_big_arrays():
    text = str(xprop.trace(_worked_model(), X1, Y1, lr=0.5))
    for piece in ("Z_0", "A_0 @ W_0 + b_0", "sigmoid(Z_1)", "A_1.T @ dZ_1",
                  "sum(dZ_0, axis=0)", "dZ_0 @ W_0.T (dL/dX)", "sigmoid'(Z_0) * dA_1",
                  "0.298371109", "W_1 - lr dW_1, lr = 0.5", "0.35891648"):
        assert piece in text, piece
    big = xprop.MLP([64, 100, 10], "relu", "softmax", "cross_entropy", seed=0)
    X = np.random.default_rng(0).standard_normal((3, 64))
    t = xprop.trace(big, X, [1, 2, 3])
    text = str(t)
    assert "(64, 100)" in text and "elided: 6400 entries" in text
    assert "(a - y) / n" in text  # the fused head's gradient, from its docstring
    assert "<table>" in t._repr_html_() and "dW_1" in t._repr_html_()
    assert repr(t).startswith("Trace(MLP([64, 100, 10]")


def test_to_dict_is_json_and_complete():
    d = xprop.trace(_worked_model(), X1, Y1, lr=0.5).to_dict()
    again = json.loads(json.dumps(d))
    names = [q["name"] for q in again["quantities"]]
    for name in ("A_0", "Z_0", "A_2", "L", "dZ_1", "dW_0", "db_1", "dA_0", "W_1'"):
        assert name in names
    q = again["quantities"][names.index("dW_1")]
    assert q["shape"] == [2, 2] and q["formula"] == "A_1.T @ dZ_1"
    assert again["loss"] == pytest.approx(0.298371109, abs=1e-9) and again["lr"] == 0.5


def test_the_trace_of_a_standardised_model_starts_from_standardised_inputs():
    X, y = xprop.datasets.moons(20, noise=0.1, seed=0)
    model = xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy", seed=0).standardize(
        100 * X)
    t = xprop.trace(model, 100 * X, y)
    np.testing.assert_allclose(t.X, model.standardizer.transform(100 * X), rtol=1e-15)
    assert "(X - mean) / std" in str(t)
    # dA_0 is the gradient of the standardised input: dL/dX times std (found by audit: it
    # was labelled dL/dX), here against central differences of the loss on the raw X
    (_, formula, dA0), = [r[1:] for r in t.rows() if r[1] == "dA_0"]
    assert formula.endswith("(dL/dX times std)")
    raw, h = 100 * X, 1e-4
    numeric = np.zeros_like(raw)
    for idx in np.ndindex(*raw.shape):
        up, down = raw.copy(), raw.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (model.loss(up, y) - model.loss(down, y)) / (2 * h)
    np.testing.assert_allclose(dA0 / np.asarray(model.standardizer.std), numeric, rtol=1e-6,
                               atol=1e-9)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"y": None}, "y: expected targets"),
    ({"lr": -1.0}, "lr: expected a finite number > 0, got -1.0"),
    ({"lr": "0.1"}, "lr: expected a finite number > 0"),
    ({"X": [[0.1, 0.2, 0.3]]}, "X: expected"),
])
def test_bad_input_is_one_line_naming_the_argument(kwargs, message):
    args = {"X": X1, "y": Y1, **kwargs}
    with pytest.raises((ValueError, TypeError)) as e:
        xprop.trace(_worked_model(), args.pop("X"), args.pop("y"), **args)
    assert message in str(e.value) and "\n" not in str(e.value)


# --------------------------------------------------------------------------- CLI


def _cli(capsys, *argv):
    from xprop.cli import main

    status = main(["trace", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_traces_weights_from_json_and_npz(tmp_path, capsys):
    spec = {"W0": W0, "b0": B[0], "W1": W1, "b1": B[1], "activation": "sigmoid",
            "output_activation": "sigmoid", "loss": "half_sse"}
    (tmp_path / "w.json").write_text(json.dumps(spec))
    status, out, _ = _cli(capsys, "--weights", str(tmp_path / "w.json"), "--x", "0.05,0.10",
                          "--y", "0.01,0.99", "--lr", "0.5")
    assert status == 0
    assert out.strip() == str(xprop.trace(_worked_model(), X1, Y1, lr=0.5))
    np.savez(tmp_path / "w.npz", W0=W0, b0=B[0], W1=W1, b1=B[1])
    status, out, _ = _cli(capsys, "--weights", str(tmp_path / "w.npz"), "--activation",
                          "sigmoid", "--output-activation", "sigmoid", "--loss", "half_sse",
                          "--x", "0.05,0.10", "--y", "0.01,0.99", "--json")
    d = json.loads(out)
    assert status == 0 and d["loss"] == xprop.trace(_worked_model(), X1, Y1).loss


def test_cli_traces_a_checkpoint_on_data_as_python_does(tmp_path, capsys):
    X, y = xprop.datasets.moons(30, noise=0.1, seed=0)
    model = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy", seed=0).standardize(X)
    model.save(tmp_path / "m.npz")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    status, out, _ = _cli(capsys, "--checkpoint", str(tmp_path / "m.npz"), "--data",
                          str(tmp_path / "d.npz"), "--samples", "3")
    assert status == 0
    assert out.strip() == str(xprop.trace(xprop.load(tmp_path / "m.npz"), X[:3], y[:3]))
    status, out, _ = _cli(capsys, "--checkpoint", str(tmp_path / "m.npz"), "--x", "0.1,0.2",
                          "--y", "1")  # a class label
    assert status == 0 and "(1, 2)" in out


@pytest.mark.parametrize(("argv", "message"), [
    ([], "--checkpoint/--weights: expected exactly one of them, got neither"),
    (["--weights", "W.json"], "--x/--data: expected samples"),
    (["--weights", "w.txt", "--x", "1,2", "--y", "1"], "--weights: expected a .json or .npz"),
    (["--weights", "W.json", "--x", "1,2"], "--y: expected one target row per --x (1), got 0"),
    (["--weights", "W.json", "--x", "1,a", "--y", "1"], "--x: expected comma-separated"),
    (["--weights", "bad.json", "--x", "1,2", "--y", "1"], "--weights: expected arrays W0, b0"),
    (["--weights", "W.json", "--x", "1,2", "--y", "1", "--loss", "nope"], "--loss"),
    (["--weights", "W.json", "--x", "1,2,3", "--y", "1"], "X: expected"),
])
def test_cli_errors_name_the_flag(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "W.json").write_text(json.dumps({"W0": [[1.0], [2.0]], "b0": [0.0]}))
    (tmp_path / "bad.json").write_text(json.dumps({"W0": [[1.0], [2.0]], "c0": [0.0]}))
    status, _, err = _cli(capsys, *argv)
    assert status == 2 and message in err and err.count("\n") == 1, err


def test_the_readmes_trace_command_prints_the_numbers_it_quotes(capsys, monkeypatch):
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("xprop trace --weights"))
    monkeypatch.chdir(root)
    status, out, _ = _cli(capsys, *shlex.split(line)[2:])
    assert status == 0
    section = readme[readme.index("## Learn: every number"):readme.index("## What is in it")]
    quoted = re.findall(r"\b0\.\d{6,}\b", section)
    assert len(quoted) >= 3
    for number in quoted:
        assert number in out, number


def test_trace_formulas_name_their_own_variable_and_never_a_users_prose():
    """Found by audit: bce_with_logits after an identity output was written in z while the
    row defined a; a user's loss showed its docstring's first line as if it were a
    formula."""
    import xprop

    X, y = np.array([[0.5, -1.0]]), np.array([1.0])
    m = xprop.MLP([2, 2, 1], "tanh", "identity", "bce_with_logits", seed=0)
    text = str(xprop.trace(m, X, y))
    assert "log(1 + exp(-|z|))] / k, z = A_2" in text
    assert "dL/dz = (sigmoid(z) - y) / (n k), z = A_2" in text

    def terms(a, y, xp):
        """Compute the terms of my loss."""
        return xp.abs(a - y)

    def grad(a, y, xp):
        """Return the gradient."""
        return xp.sign(a - y) / (a.shape[0] * a.shape[1])

    own = xprop.register_loss(
        xprop.make_loss("my_l1_trace", terms, grad))
    try:
        text = str(xprop.trace(xprop.MLP([2, 2, 1], "tanh", "identity", "my_l1_trace",
                                         seed=0), X, y))
    finally:
        del xprop.LOSSES[own.name]
    assert "Compute the terms" not in text and "Return the gradient" not in text
    assert "[my_l1_trace terms]" in text and "my_l1_trace's gradient" in text


def test_trace_json_is_strict_json_with_non_finite_values(tmp_path):
    """Found by audit: ``xprop trace --json`` wrote bare ``Infinity``/``NaN`` for an output
    that overflows (exit 0), which no strict JSON reader takes; they are strings now."""
    from tests.test_cli import run_cli

    (tmp_path / "big.json").write_text(json.dumps(
        {"W0": [[800.0]], "b0": [0.0], "activation": "identity", "output_activation": "exp",
         "loss": "poisson"}))
    r = run_cli(tmp_path, "trace", "--weights", "big.json", "--x", "1", "--y", "2", "--json")
    assert r.returncode == 0, r.stderr

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    found = json.loads(r.stdout, parse_constant=refuse)
    assert "inf" in json.dumps(found)
