"""What a notebook or a log shows: short reprs, HTML tables, summaries, History.plot,
predict_proba, progress lines with time per epoch and ETA, and the dtype a model takes when
none is given (the namespace's default for the device)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import xprop
from tests.helpers import host
from xprop.cli import Progress
from xprop.train import format_duration, progress_line


def _trained(epochs=300):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    m = xprop.MLP([3, 8, 3], "tanh", "softmax", "cross_entropy")
    return m, m.fit(X, y, epochs=epochs, validation_split=0.25), X, y


def test_a_history_repr_is_one_short_line_whatever_the_epochs():
    _, h, _, _ = _trained()
    text = repr(h)
    assert "\n" not in text and len(text) < 200, text
    assert text.startswith("History(epochs=300, loss ") and "val_loss" in text
    assert f"{h.loss[-1]:.4g}" in text
    assert repr(xprop.History()) == "History(epochs=0)"


def test_history_plot_returns_a_figure():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    _, h, _, _ = _trained(5)
    fig = h.plot()
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].lines) == 2  # train and validation


def test_a_model_summary_and_its_html_name_every_layer():
    X = np.random.default_rng(1).normal(size=(10, 3))
    m = xprop.MLP([3, 8, 3], ["relu"], "softmax", "cross_entropy").standardize(X)
    text = m.summary()
    assert "W0, b0  3 -> 8" in text and "softmax" in text
    assert "parameters: 59" in text and "dtype: float64" in text and "standardised" in text
    html = m._repr_html_()
    assert html.count("<tr>") == 1 + 2 + 5  # header, two layers, five facts
    assert "3 -&gt; 8" in html and "59" in html and "<table>" in html
    assert "\n" not in repr(m)


def test_a_gradcheck_reports_repr_is_short_and_its_html_a_table():
    m = xprop.MLP([2, 4, 2], "tanh", "softmax", "cross_entropy")
    X = np.random.default_rng(0).normal(size=(6, 2))
    report = xprop.gradcheck(m, X, np.arange(6) % 2)
    assert repr(report).startswith("GradcheckReport(passed: ") and "\n" not in repr(report)
    html = report._repr_html_()
    assert html.count("<tr>") == 1 + 4 and "verdict: PASSED" in html
    assert "W0" in html and "b1" in html


@pytest.mark.parametrize(("output", "loss", "k"), [
    ("softmax", "cross_entropy", 3), ("sigmoid", "bce", 1), ("sigmoid", "bce", 2),
    ("identity", "bce_with_logits", 1)])
def test_predict_proba_gives_probabilities_that_agree_with_predict(output, loss, k):
    X = np.random.default_rng(2).normal(size=(30, 4)) * 3
    m = xprop.MLP([4, 6, k], "tanh", output, loss, seed=3)
    p = host(m.predict_proba(X))
    assert p.shape == (30, k) and np.all((p >= 0) & (p <= 1))
    pred = host(m.predict(X))
    if output == "softmax":
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(np.argmax(p, axis=1), pred)
    else:
        np.testing.assert_array_equal((p > 0.5).astype(int).reshape(pred.shape), pred)


def test_predict_proba_of_a_regressor_is_refused():
    with pytest.raises(ValueError, match="predict_proba: defined for classifiers"):
        xprop.MLP([2, 3, 1]).predict_proba(np.zeros((1, 2)))


def test_progress_lines_give_time_per_epoch_and_eta():
    line = progress_line(20, 100, {"loss": 0.5, "accuracy": 0.75, "lr": 0.1, "time": 2.0})
    assert line == "epoch  20/100  loss 0.5  accuracy 0.75  100 ms/epoch  ETA 8.0 s"
    assert [format_duration(s) for s in (0.25, 2.5, 42, 200, 7300)] == \
        ["250 ms", "2.5 s", "42 s", "3 min 20 s", "2 h 01 min"]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Pipe(io.StringIO):
    def isatty(self):
        return False


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_the_cli_prints_a_line_every_so_many_seconds(capsys):
    clock = _Clock()
    progress = Progress(1000, stream=_Pipe(), clock=clock, every=30.0)
    for epoch in range(1, 1001):
        clock.now = epoch * 0.1  # 0.1 s per epoch: a line every 300 epochs
        progress(epoch, {"loss": 1.0 / epoch, "time": clock.now})
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[1] for ln in lines] == ["300/1000", "600/1000", "900/1000"]
    assert "100 ms/epoch  ETA 1 min 10 s" in lines[0]
    assert progress.stream.getvalue() == ""  # no bar off a terminal


def test_on_a_terminal_the_bar_shows_an_eta():
    clock, stream = _Clock(), _Terminal()
    progress = Progress(10, stream=stream, clock=clock)
    clock.now = 2.0
    progress(4, {"loss": 0.25})
    assert "epoch 4/10" in stream.getvalue() and "500.0 ms/epoch  ETA 3.0 s" in stream.getvalue()


# --------------------------------------------------------------------------- dtype defaults


def test_without_a_dtype_a_model_takes_its_namespaces_default(backend):
    """NumPy, CuPy and array-api-strict: float64; torch: torch.get_default_dtype(); JAX:
    float32 without x64; a device without float64: float32."""
    m = xprop.MLP([5, 3, 1], backend=backend)
    info = backend.xp.__array_namespace_info__()
    expected = info.default_dtypes(device=backend.device)["real floating"]
    if xprop.backend.dtype_name(expected, backend.xp) not in backend.supported_float_dtypes():
        expected = backend.xp.float32
    assert m.dtype == expected
    X = backend.from_host(np.ones((4, 5)), m.dtype)
    assert m.forward(X)[0].dtype == m.dtype


def test_a_torch_model_follows_torchs_default_dtype():
    torch = pytest.importorskip("torch")
    assert xprop.MLP([5, 3, 1], backend="torch").dtype == torch.float32
    out, _ = xprop.MLP([5, 3, 1], backend="torch").forward(torch.randn(200, 5))
    assert out.shape == (200, 1)  # before: refused, the model was float64
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert xprop.MLP([5, 3, 1], backend="torch").dtype == torch.float64
    finally:
        torch.set_default_dtype(before)


def test_an_explicit_dtype_a_device_cannot_hold_is_refused():
    with pytest.raises(xprop.BackendError, match="float64 is not supported"):
        xprop.MLP([2, 3, 1], dtype="float64", backend="array_api_strict:no_float64")
    assert xprop.MLP([2, 3, 1], backend="array_api_strict:no_float64").dtype.__str__() \
        .endswith("float32")


def test_training_figure_of_several_outputs_one_feature_or_no_labels():
    """A boundary is drawn for one prediction per row of two features (labels without y
    colour nothing); several outputs per row or other inputs give a note, never a crash."""
    pytest.importorskip("matplotlib")
    from xprop.plots import training_figure

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    Y = np.c_[X[:, 0] + X[:, 1], X[:, 0] * X[:, 1]]
    m = xprop.MLP([2, 4, 2], "tanh", "identity", "mse", seed=0)
    h = m.fit(X, Y, epochs=2)
    fig, notes = training_figure(h, m, X, Y)
    assert len(fig.axes) == 2 and notes == [
        "no decision boundary: the model predicts 2 values per row, not one"]
    fig, notes = training_figure(h, m, X[:, 0], Y)
    assert notes == ["no decision boundary: the data has shape (40,), not 2 features"]
    c = xprop.MLP([2, 4, 3], "tanh", "softmax", "cross_entropy", seed=0)
    y = rng.integers(0, 3, 40)
    hc = c.fit(X, y, epochs=2)
    for labels in (None, y, np.eye(3)[y]):  # none, labels, one-hot rows
        fig, notes = training_figure(hc, c, X, labels)
        assert notes == [] and fig.axes[2].get_title() == "decision boundary"
    with pytest.raises(ValueError, match=r"^y: expected 40 entries \(one per row of X\)"):
        training_figure(hc, c, X, np.r_[y, y])
