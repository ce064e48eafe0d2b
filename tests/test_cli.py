"""The ``xprop`` command line, run as a subprocess (``python -m xprop ...``) the way a user runs it.

One module-scoped fixture trains a small spirals checkpoint (with ``--out`` and ``--plot``) that
the ``gradcheck``, ``predict`` and ``evaluate`` tests reuse. Every run is a few epochs on a small
dataset so the whole file stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import xprop

TIMEOUT = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUBCOMMANDS = ["demo", "train", "gradcheck", "info", "predict", "evaluate", "export"]
FAST = ["--epochs", "5"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("XPROP_DEBUG", "XPROP_BACKEND"):
        env.pop(key, None)
    env["MPLBACKEND"] = "Agg"
    return env


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m xprop ARGS`` in ``cwd``, stdout and stderr captured (stderr not a tty)."""
    return subprocess.run(
        [sys.executable, "-m", "xprop", *args], cwd=cwd, env=_env(), timeout=TIMEOUT,
        capture_output=True, text=True,
    )


def run_script(cwd: Path, source: str) -> subprocess.CompletedProcess:
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=_env(), timeout=TIMEOUT,
        capture_output=True, text=True,
    )


def assert_ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr


def assert_cli_error(r: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2 with exactly one line on stderr, ``xprop: error: ...``, no traceback; the
    fragments appear in that line. Returns the line."""
    assert r.returncode == 2, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    line = lines[0]
    assert line.startswith("xprop: error:"), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def assert_argparse_error(r: subprocess.CompletedProcess, option: str) -> None:
    """argparse's own errors: exit 2, one ``xprop: error:`` line naming the option (no usage
    dump)."""
    assert r.returncode == 2, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xprop: error:"), r.stderr
    assert f"argument {option}" in lines[0], lines[0]
    assert "done:" not in r.stdout


def write_csv(path: Path, header: list[str] | None, rows) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def classification_data(n: int = 60, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``xprop train --data spirals --out model.npz --plot curves.png`` (5 epochs), once."""
    d = tmp_path_factory.mktemp("trained")
    r = run_cli(d, "train", "--data", "spirals", *FAST, "--out", "model.npz",
                "--plot", "curves.png")
    assert_ok(r)
    return d, d / "model.npz", d / "curves.png", r


@pytest.fixture(scope="module")
def info_json(tmp_path_factory) -> dict:
    """``xprop info --json``, parsed (run once: it imports torch and probes CuPy)."""
    r = run_cli(tmp_path_factory.mktemp("info"), "info", "--json")
    assert_ok(r)
    return json.loads(r.stdout)


@pytest.fixture
def points_csv(tmp_path) -> Path:
    """Three 2-D points, no header, no label column."""
    return write_csv(tmp_path / "points.csv", None,
                     [[0.1, 0.2], [-0.5, 0.3], [0.9, -0.9]])


# --------------------------------------------------------------------------- demo, help


def test_demo_is_the_default(tmp_path):
    r = run_cli(tmp_path)
    assert_ok(r)
    out = r.stdout
    assert "demo" in out
    assert "loss" in out and "accuracy" in out
    assert "test accuracy" in out
    assert "gradient check: PASSED" in out


def test_help(tmp_path):
    r = run_cli(tmp_path, "--help")
    assert_ok(r)
    assert "usage: xprop" in r.stdout
    for name in SUBCOMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(tmp_path, command):
    r = run_cli(tmp_path, command, "--help")
    assert_ok(r)
    assert f"usage: xprop {command}" in r.stdout


def test_version(tmp_path):
    import xprop

    r = run_cli(tmp_path, "--version")
    assert_ok(r)
    assert r.stdout.strip() == f"xprop {xprop.__version__}"


# --------------------------------------------------------------------------- train


def test_train_spirals_writes_checkpoint_and_plot(trained):
    _, model, png, r = trained
    assert "data: spirals" in r.stdout
    assert "test accuracy" in r.stdout
    assert "done: 5 epochs" in r.stdout
    assert "saved checkpoint: model.npz" in r.stdout
    assert "saved plot: curves.png" in r.stdout
    assert "note:" not in r.stdout  # 2-D data: the decision boundary is drawn
    assert model.is_file() and model.stat().st_size > 0
    with np.load(model, allow_pickle=False) as f:
        assert {"W0", "b0", "header", "input_mean", "input_std"} <= set(f.files)
        header = json.loads(str(f["header"][()]))
    assert header["format"] == "xprop-mlp"
    assert header["layer_sizes"][0] == 2 and header["layer_sizes"][-1] == 3
    data = png.read_bytes()
    assert len(data) > len(PNG_SIGNATURE)
    assert data.startswith(PNG_SIGNATURE)


def test_train_no_progress_bar_when_stderr_is_not_a_terminal(trained):
    _, _, _, r = trained
    assert "\r" not in r.stderr
    assert "epoch" not in r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_train_progress_bar_when_stderr_is_a_terminal(tmp_path):
    """The check above means something: on a terminal the bar is drawn with '\\r'."""
    import pty

    master, slave = pty.openpty()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "xprop", "train", "--data", "xor", *FAST],
            cwd=tmp_path, env=_env(), timeout=TIMEOUT, stdout=subprocess.PIPE,
            stderr=slave, text=True,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the writer side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    assert r.returncode == 0, r.stdout
    err = b"".join(chunks).decode()
    assert "\r" in err
    assert "epoch 5/5" in err


def test_train_xor(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST)
    assert_ok(r)
    assert "data: xor (4 train, 2 features)" in r.stdout
    assert "train accuracy" in r.stdout
    assert "test accuracy" not in r.stdout  # xor holds nothing out


@pytest.mark.parametrize("label", ["cls", "2", "-2"])
def test_train_csv_with_header_and_label(tmp_path, label):
    X, y = classification_data()
    rows = [[a, b, int(c), e] for (a, b, e), c in zip(X, y, strict=True)]
    write_csv(tmp_path / "data.csv", ["a", "b", "cls", "c"], rows)
    r = run_cli(tmp_path, "train", "--data", "data.csv", "--label", label, *FAST)
    assert_ok(r)
    assert "data: data.csv (48 train / 12 test, 3 features)" in r.stdout
    assert "test accuracy" in r.stdout
    # the label column became two classes, not a feature
    assert "MLP([3," in r.stdout and ", 2], activations" in r.stdout


def test_train_csv_label_defaults_to_last_column(tmp_path):
    X, y = classification_data()
    write_csv(tmp_path / "data.csv", None, [[*row, int(c)] for row, c in zip(X, y, strict=True)])
    r = run_cli(tmp_path, "train", "--data", "data.csv", *FAST)
    assert_ok(r)
    assert "3 features" in r.stdout
    assert "test accuracy" in r.stdout


def test_train_npz(tmp_path):
    X, y = classification_data()
    np.savez(tmp_path / "data.npz", X=X, y=y)
    r = run_cli(tmp_path, "train", "--data", "data.npz", *FAST, "--out", "m.npz")
    assert_ok(r)
    assert "data: data.npz (48 train / 12 test, 3 features)" in r.stdout
    assert "test accuracy" in r.stdout
    assert (tmp_path / "m.npz").is_file()


def test_train_plot_without_decision_boundary(tmp_path):
    X, y = classification_data(d=3)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    r = run_cli(tmp_path, "train", "--data", "data.npz", *FAST, "--plot", "curves.png")
    assert_ok(r)
    assert "saved plot: curves.png" in r.stdout
    assert "note: no decision boundary" in r.stdout
    assert "3 features" in r.stdout
    data = (tmp_path / "curves.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > len(PNG_SIGNATURE)


def test_train_regression_csv(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    t = 0.5 * X[:, 0] + X[:, 1] + 0.123
    rows = [[a, b, c] for (a, b), c in zip(X, t, strict=True)]
    write_csv(tmp_path / "reg.csv", ["x1", "x2", "t"], rows)
    r = run_cli(tmp_path, "train", "--data", "reg.csv", *FAST, "--out", "reg.npz")
    assert_ok(r)
    assert "loss='mse'" in r.stdout
    assert "identity" in r.stdout
    assert "test loss" in r.stdout
    assert "accuracy" not in r.stdout
    # evaluate a regression checkpoint: a loss and no accuracy
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "reg.npz", "--data", "reg.csv")
    assert_ok(r)
    assert "loss:" in r.stdout and "samples: all 60 of" in r.stdout
    assert "accuracy" not in r.stdout


def test_train_array_api_strict(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--backend", "array_api_strict")
    assert_ok(r)
    assert "backend=array_api_strict" in r.stdout
    assert "done: 5 epochs" in r.stdout


# --------------------------------------------------------------------------- train errors


def test_train_unknown_dataset(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "nope", *FAST)
    assert_cli_error(r, "'nope'", "spirals")


def test_train_missing_data_file(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "missing.csv", *FAST)
    assert_cli_error(r, "missing.csv", "does not exist")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("a,b,c\n1,2,0\n1,2\n", ("ragged", "line 3")),
        ("a,b,c\n1,2,0\n1,x,1\n", ("non-numeric", "'x'", "line 3", "column 2")),
        ("a,b,c\n1,2,0\nnan,1,1\n3,4,0\n", ("NaN",)),
    ],
    ids=["ragged", "non-numeric", "nan"],
)
def test_train_bad_csv(tmp_path, text, fragments):
    (tmp_path / "bad.csv").write_text(text)
    r = run_cli(tmp_path, "train", "--data", "bad.csv", *FAST)
    assert_cli_error(r, "bad.csv", *fragments)
    assert "done:" not in r.stdout


def test_train_nan_in_npz(tmp_path):
    X, y = classification_data()
    X[3, 1] = np.nan
    np.savez(tmp_path / "data.npz", X=X, y=y)
    r = run_cli(tmp_path, "train", "--data", "data.npz", *FAST)
    assert_cli_error(r, "NaN")


@pytest.mark.parametrize(("label", "fragment"), [("nope", "'nope'"), ("7", "index 7")])
def test_train_label_column_does_not_exist(tmp_path, label, fragment):
    write_csv(tmp_path / "data.csv", ["a", "b", "cls"], [[0, 1, 0], [1, 0, 1], [1, 1, 0]])
    r = run_cli(tmp_path, "train", "--data", "data.csv", "--label", label, *FAST)
    assert_cli_error(r, "label", fragment, "does not exist")


def test_train_out_directory_does_not_exist(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "spirals", *FAST, "--out", "nodir/m.npz")
    assert_cli_error(r, "--out", "nodir", "does not exist")
    assert "done:" not in r.stdout  # refused before training
    assert not (tmp_path / "nodir").exists()


def test_train_plot_directory_does_not_exist(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--plot", "nodir/p.png")
    assert_cli_error(r, "--plot", "does not exist")
    assert "done:" not in r.stdout


def test_train_existing_out_needs_force(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"precious")
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--out", "m.npz")
    assert_cli_error(r, "--out", "exists", "--force")
    assert "done:" not in r.stdout
    assert target.read_bytes() == b"precious"

    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--out", "m.npz", "--force")
    assert_ok(r)
    assert "saved checkpoint: m.npz" in r.stdout
    assert target.read_bytes().startswith(b"PK")  # now a real .npz (zip) checkpoint


def test_train_existing_out_without_suffix_needs_force(tmp_path):
    target = tmp_path / "m.npz"
    target.write_bytes(b"precious")
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--out", "m")
    assert target.read_bytes() == b"precious"
    assert_cli_error(r, "--out", "exists", "--force")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--lr", "0"], "--lr: expected a finite number > 0, got 0.0"),
        (["--lr", "-1"], "--lr: expected a finite number > 0, got -1.0"),
        (["--lr", "nan"], "--lr: expected a finite number > 0, got nan"),
        (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0"),
        (["--epochs", "0"], "--epochs: expected an integer >= 1, got 0"),
        (["--clip-norm", "inf"], "--clip-norm: expected a finite number > 0, got inf"),
        (["--early-stopping", "0"], "--early-stopping: expected an integer >= 1, got 0"),
        (["--validation-split", "-0.1"], "--validation-split: expected a fraction in [0, 1)"),
    ],
    ids=["lr0", "lr-1", "lr-nan", "batch0", "epochs0", "clip-inf", "patience0", "split"],
)
def test_train_numbers_out_of_range_are_the_engines_errors(tmp_path, args, said):
    """The training flags are parsed by argparse and checked by the engine's one
    configuration (FitConfig), its message naming the flag (before: argparse checked the
    ranges again, a second copy of the rules)."""
    r = run_cli(tmp_path, "train", "--data", "xor", *args)
    assert_cli_error(r, said)
    assert "done:" not in r.stdout


@pytest.mark.parametrize(("args", "option"), [(["--epochs", "x"], "--epochs"),
                                              (["--lr", "fast"], "--lr")])
def test_train_flags_that_are_no_numbers_are_argparse_errors(tmp_path, args, option):
    r = run_cli(tmp_path, "train", "--data", "xor", *args)
    assert_argparse_error(r, option)


def test_train_unknown_optimizer(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--optimizer", "foo")
    assert_cli_error(r, "optimizer", "'foo'", "adam")
    assert "done:" not in r.stdout


def test_train_bad_hidden_sizes(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--hidden", "4,x")
    assert_cli_error(r, "--hidden", "'4,x'")


def test_train_unknown_backend(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--backend", "foo")
    assert_cli_error(r, "backend", "'foo'")
    assert "done:" not in r.stdout


def test_train_cupy_without_gpu(tmp_path, info_json):
    if info_json["cupy"]["available"]:
        pytest.skip("CuPy works here")
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--backend", "cupy")
    line = assert_cli_error(r, "cupy", "unusable")
    assert "pip install" in line
    assert "done:" not in r.stdout


def test_debug_env_gives_traceback(tmp_path):
    """XPROP_DEBUG=1 is the documented way to get the traceback behind a one-line error."""
    r = subprocess.run(
        [sys.executable, "-m", "xprop", "train", "--data", "nope"], cwd=tmp_path,
        env={**_env(), "XPROP_DEBUG": "1"}, timeout=TIMEOUT, capture_output=True, text=True,
    )
    assert r.returncode != 0
    assert "Traceback" in r.stderr


# --------------------------------------------------------------------------- gradcheck


def test_gradcheck_new_model(tmp_path):
    r = run_cli(tmp_path, "gradcheck")
    assert_ok(r)
    assert "MLP([2, 4, 2]" in r.stdout
    assert "float64" in r.stdout
    assert "PASSED" in r.stdout and "FAILED" not in r.stdout


def test_gradcheck_checkpoint(trained):
    d, model, _, _ = trained
    r = run_cli(d, "gradcheck", "--checkpoint", str(model), "--data", "spirals",
                "--samples", "16", "--n-checks", "20")
    assert_ok(r)
    assert "MLP([2, 64, 64, 3]" in r.stdout
    assert "PASSED" in r.stdout and "FAILED" not in r.stdout


def test_gradcheck_fast(tmp_path):
    r = run_cli(tmp_path, "gradcheck", "--mode", "fast")
    assert_ok(r)
    assert "fast" in r.stdout and "random direction" in r.stdout
    assert "PASSED" in r.stdout


def test_gradcheck_check_input(tmp_path):
    r = run_cli(tmp_path, "gradcheck", "--check-input")
    assert_ok(r)
    assert any(ln.split()[:1] == ["X"] for ln in r.stdout.splitlines()), r.stdout
    assert "PASSED" in r.stdout


@pytest.mark.parametrize(("scale", "code", "verdict"), [(1.0, 0, "PASSED"), (1.01, 1, "FAILED")])
def test_gradcheck_wrong_backward_fails(tmp_path, scale, code, verdict):
    """A tanh whose backward is off by 1% fails the check with exit code 1 (and the untouched
    one passes through the same script, so the failure is the bug and not the harness)."""
    r = run_script(tmp_path, f"""
        import dataclasses
        import sys

        import xprop.activations as A
        import xprop.cli

        good = A.ACTIVATIONS["tanh"]

        def backward(g, z, a, xp):
            return {scale!r} * good.backward(g, z, a, xp)

        A.ACTIVATIONS["tanh"] = dataclasses.replace(good, backward=backward)
        sys.exit(xprop.cli.main(["gradcheck"]))
    """)
    assert r.returncode == code, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    assert verdict in r.stdout


def test_gradcheck_missing_checkpoint(tmp_path):
    r = run_cli(tmp_path, "gradcheck", "--checkpoint", "nope.npz")
    assert_cli_error(r, "checkpoint", "nope.npz", "does not exist")


# --------------------------------------------------------------------------- info


def test_info(tmp_path, info_json):
    info = info_json
    for key in ("numpy", "array_api_strict", "torch", "cupy", "auto"):
        assert key in info, key
    assert info["numpy"]["available"] is True
    assert info["numpy"]["version"] == np.__version__
    assert info["auto"]["chooses"] in ("numpy", "cupy")

    r = run_cli(tmp_path, "info")
    assert_ok(r)
    import xprop

    assert f"xprop {xprop.__version__}" in r.stdout
    assert f"Python {sys.version.split()[0]}" in r.stdout
    assert np.__version__ in r.stdout
    for name in ("numpy", "array_api_strict", "torch", "cupy"):
        assert name in r.stdout
    assert f"auto chooses {info['auto']['chooses']}" in r.stdout
    if not info["cupy"]["available"]:
        reason = info["cupy"]["reason"]
        assert reason
        assert f"cupy              unusable: {reason}" in r.stdout
        assert "auto chooses numpy" in r.stdout


# --------------------------------------------------------------------------- predict


def test_predict_prints_one_line_per_point(trained, points_csv):
    _, model, _, _ = trained
    r = run_cli(points_csv.parent, "predict", "--checkpoint", str(model), "--data", "points.csv")
    assert_ok(r)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all(ln in ("0", "1", "2") for ln in lines), lines


def test_predict_out_and_force(trained, points_csv):
    _, model, _, _ = trained
    d = points_csv.parent
    args = ("predict", "--checkpoint", str(model), "--data", "points.csv", "--out", "preds.csv")
    r = run_cli(d, *args)
    assert_ok(r)
    assert "saved 3 predictions: preds.csv" in r.stdout
    preds = (d / "preds.csv").read_text()
    assert len(preds.strip().splitlines()) == 3

    printed = run_cli(d, "predict", "--checkpoint", str(model), "--data", "points.csv")
    assert printed.stdout.strip().splitlines() == preds.strip().splitlines()

    (d / "preds.csv").write_text("keep me\n")
    r = run_cli(d, *args)
    assert_cli_error(r, "--out", "exists", "--force")
    assert (d / "preds.csv").read_text() == "keep me\n"

    r = run_cli(d, *args, "--force")
    assert_ok(r)
    assert (d / "preds.csv").read_text() == preds

    (d / "preds.csv").unlink()  # a file that appears while predicting is kept too
    r = run_script(d, f"""
        import sys
        import xprop
        from xprop import cli
        predict = xprop.MLP.predict
        def predict_then_someone_writes(self, X):
            open("preds.csv", "w").write("theirs")
            return predict(self, X)
        xprop.MLP.predict = predict_then_someone_writes
        sys.exit(cli.main({list(args)!r}))
    """)
    assert_cli_error(r, "--out: 'preds.csv' exists; pass --force")
    assert (d / "preds.csv").read_text() == "theirs"


def test_outputs_found_by_audit(trained, points_csv):
    """--out /dev/stdout (a pipe) is written in place; --plot replaces a file only with
    --force, as --out; a name too long for the file system is refused before training; a
    missing --weights file is named as such."""
    _, model, _, _ = trained
    d = points_csv.parent
    r = run_cli(d, "predict", "--checkpoint", str(model), "--data", "points.csv", "--out",
                "/dev/stdout", "--force")
    assert_ok(r)
    assert len([line for line in r.stdout.splitlines() if not line.startswith("saved")]) == 3
    (d / "mine.png").write_bytes(b"precious")
    r = run_cli(d, "train", "--data", "xor", *FAST, "--plot", "mine.png")
    assert_cli_error(r, "--plot", "exists", "--force")
    assert (d / "mine.png").read_bytes() == b"precious" and "done:" not in r.stdout
    r = run_cli(d, "train", "--data", "xor", *FAST, "--out", "x" * 300 + ".npz")
    assert_cli_error(r, "--out", "cannot write", "too long")
    assert "done:" not in r.stdout
    r = run_cli(d, "trace", "--weights", "missing.npz", "--data", "points.csv")
    assert_cli_error(r, "--weights: 'missing.npz' does not exist")


def test_out_that_appears_while_training_keeps_the_model(tmp_path):
    """Without --force, a file that appears at --out or --plot while training runs is kept
    and the output goes beside it (m.1.npz, p.1.png), exit status 1 (before: the finished
    model was lost, the plot replaced the file)."""
    r = run_script(tmp_path, """
        import os, sys
        from xprop import cli
        fit = cli._fit
        def fit_then_someone_writes(*args, **kwargs):
            hist = fit(*args, **kwargs)
            for name in ("m.npz", "p.png"):
                with open(name, "w") as fh:
                    fh.write("not yours")
            return hist
        cli._fit = fit_then_someone_writes
        sys.exit(cli.main(["train", "--data", "xor", "--epochs", "5", "--out", "m.npz",
                           "--plot", "p.png"]))
    """)
    assert r.returncode == 1, r.stderr
    assert "appeared while training ran" in r.stderr and "m.1.npz" in r.stderr
    assert "p.1.png" in r.stderr and (tmp_path / "p.1.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("m.npz", "p.png"):
        assert (tmp_path / name).read_text() == "not yours"
    assert xprop.load(tmp_path / "m.1.npz").arch.sizes[0] == 2  # XOR's two inputs


def test_a_file_that_appears_while_an_output_is_written_is_kept(tmp_path, monkeypatch):
    """Found by audit: ``overwrite=False`` was checked before writing, then ``os.replace``
    replaced a file another process made meanwhile (an ONNX graph being recorded, a
    checkpoint being compressed). Now the finished file is hard-linked to the name, which
    fails when one is there: a FileExistsError naming the argument, the other file and no
    temporary file left; without hard links, the name is checked just before the rename."""
    from xprop.checkpoint import write_atomically

    def racing(name):
        def write(fh):  # another process creates the file while this one writes
            (tmp_path / name).write_text("theirs")
            fh.write(b"ours")
        return write

    for links in (True, False):
        if not links:  # a filesystem without hard links (FAT, some network mounts)
            def no_link(src, dst):
                raise OSError(1, "Operation not permitted")
            monkeypatch.setattr(os, "link", no_link)
        name = f"out{int(links)}.bin"
        with pytest.raises(FileExistsError, match=rf"^--out: '.*{name}' exists; pass"):
            write_atomically(str(tmp_path / name), racing(name), overwrite=False, what="--out")
        assert (tmp_path / name).read_text() == "theirs"
        assert not [p for p in os.listdir(tmp_path) if p.startswith(".xprop-")]
        fresh = str(tmp_path / f"new{int(links)}.bin")
        assert write_atomically(fresh, lambda fh: fh.write(b"ours"), overwrite=False) == fresh
        assert open(fresh, "rb").read() == b"ours"
        with pytest.raises(FileExistsError, match="pass overwrite=True"):
            write_atomically(fresh, lambda fh: fh.write(b"again"), overwrite=False)
        assert open(fresh, "rb").read() == b"ours"
    assert sorted(os.listdir(tmp_path)) == ["new0.bin", "new1.bin", "out0.bin", "out1.bin"]
    model = xprop.MLP([2, 3, 1], seed=0)
    real_savez = np.savez

    def savez_racing(fh, **arrays):
        (tmp_path / "m.npz").write_text("theirs")
        real_savez(fh, **arrays)
    monkeypatch.setattr(np, "savez", savez_racing)
    with pytest.raises(FileExistsError, match=r"^checkpoint: '.*m\.npz' exists"):
        xprop.checkpoint.save(model, tmp_path / "m.npz", overwrite=False)
    assert (tmp_path / "m.npz").read_text() == "theirs"


def test_predict_wrong_number_of_features(trained, tmp_path):
    _, model, _, _ = trained
    write_csv(tmp_path / "three.csv", None, [[0.1, 0.2, 0.3]])
    r = run_cli(tmp_path, "predict", "--checkpoint", str(model), "--data", "three.csv")
    assert_cli_error(r, "expected 2 features", "got 3")


def test_predict_seed_of_generated_dataset(trained):
    d, model, _, _ = trained
    a = run_cli(d, "predict", "--checkpoint", str(model), "--data", "spirals", "--seed", "0")
    b = run_cli(d, "predict", "--checkpoint", str(model), "--data", "spirals", "--seed", "5")
    assert_ok(a)
    assert_ok(b)
    assert a.stdout != b.stdout


# --------------------------------------------------------------------------- evaluate


def test_evaluate(trained):
    d, model, _, _ = trained
    r = run_cli(d, "evaluate", "--checkpoint", str(model), "--data", "spirals")
    assert_ok(r)
    out = r.stdout
    assert "samples: all 600 of" in out
    fields = dict(ln.split(": ", 1) for ln in out.splitlines() if ln.startswith(("loss", "acc")))
    loss, accuracy = float(fields["loss"]), float(fields["accuracy"])
    assert np.isfinite(loss) and loss > 0
    assert 1 / 3 < accuracy <= 1  # better than chance after 5 epochs on three arms
    # a different seed is a different draw of the dataset
    r2 = run_cli(d, "evaluate", "--checkpoint", str(model), "--data", "spirals", "--seed", "5")
    assert_ok(r2)
    assert "samples: all 600 of" in r2.stdout
    assert r2.stdout != out


def test_evaluate_prints_nothing_before_an_error(trained):
    """Data the model cannot score (another width) is one error line and no stdout: the
    model, data and samples lines are printed only once the scores are known."""
    d, model, _, _ = trained
    r = run_cli(d, "evaluate", "--checkpoint", str(model), "--data", "digits")
    assert_cli_error(r, "X: expected 2 features")
    assert r.stdout == ""


def _fields(stdout: str) -> dict[str, str]:
    return dict(ln.split(": ", 1) for ln in stdout.splitlines() if ln.startswith(("loss", "acc")))


def test_a_cli_checkpoint_gives_the_clis_numbers_in_python(trained):
    """Before: ``xprop.load(path).accuracy`` on spirals gave 0.29 where the CLI said 1.0 (the
    standardisation lived in the CLI); now the model carries it."""
    import xprop

    d, path, _, _ = trained
    model = xprop.load(path)
    assert model.standardizer is not None
    X, y = xprop.datasets.spirals(seed=0)  # what --data spirals reads (seed 0)
    ev = run_cli(d, "evaluate", "--checkpoint", str(path), "--data", "spirals")
    assert_ok(ev)
    assert _fields(ev.stdout) == {"loss": f"{model.loss(X, y):.6f}",
                                  "accuracy": f"{model.accuracy(X, y):.4f}"}
    pr = run_cli(d, "predict", "--checkpoint", str(path), "--data", "spirals")
    assert_ok(pr)
    assert pr.stdout.split() == [str(v) for v in xprop.to_numpy(model.predict(X))]


def test_a_cli_checkpoint_predicts_a_csv_as_python_does(tmp_path):
    """Before: ``predict`` on a CSV gave ``[0 2]`` in Python and ``0 1`` from the CLI."""
    import xprop

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2)) * [30.0, 0.1] + [500.0, -4.0]  # far from standardised
    y = ((X[:, 0] - 500) / 30 + (X[:, 1] + 4) / 0.1 > 0).astype(np.int64) + \
        (X[:, 0] > 530).astype(np.int64)
    write_csv(tmp_path / "train.csv", None, [[a, b, c] for (a, b), c in zip(X, y, strict=True)])
    assert_ok(run_cli(tmp_path, "train", "--data", "train.csv", "--epochs", "30",
                      "--out", "m.npz", "--quiet"))
    write_csv(tmp_path / "new.csv", None, X[:25])
    pr = run_cli(tmp_path, "predict", "--checkpoint", "m.npz", "--data", "new.csv")
    assert_ok(pr)
    model = xprop.load(tmp_path / "m.npz")
    Xcsv, _ = xprop.datasets.load_csv(str(tmp_path / "new.csv"), label=None)
    python = [str(v) for v in xprop.to_numpy(model.predict(Xcsv))]
    assert pr.stdout.split() == python
    model.set_standardizer(None)  # the old behaviour: raw features into the network
    assert [str(v) for v in xprop.to_numpy(model.predict(Xcsv))] != python


def test_evaluate_missing_checkpoint(tmp_path):
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "nope.npz", "--data", "spirals")
    assert_cli_error(r, "checkpoint", "nope.npz", "does not exist")


@pytest.mark.parametrize("kind", ["text", "truncated", "not-xprop"])
def test_evaluate_corrupt_checkpoint(trained, tmp_path, kind):
    _, model, _, _ = trained
    bad = tmp_path / "bad.npz"
    if kind == "text":
        bad.write_text("this is not a checkpoint\n")
    elif kind == "truncated":
        bad.write_bytes(model.read_bytes()[:500])
    else:
        np.savez(bad, X=np.zeros((2, 2)), y=np.zeros(2))
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "bad.npz", "--data", "spirals")
    assert_cli_error(r, "checkpoint", "bad.npz")


def test_train_digits_defaults_reach_096(tmp_path):
    """Issue 4: digits with the CLI defaults reach >= 0.96 test accuracy, well under a minute."""
    pytest.importorskip("sklearn")
    r = run_cli(tmp_path, "train", "--data", "digits", "--backend", "numpy", "--quiet")
    assert_ok(r)
    done = next(line for line in r.stdout.splitlines() if line.startswith("done:"))
    acc = float(done.split("test accuracy")[1].strip())
    seconds = float(done.split(" in ")[1].split(" s ")[0])
    assert acc >= 0.96, done
    assert seconds < 60, done
    assert "50 epochs" in done


def test_train_with_bce_uses_one_sigmoid_output(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "moons", "--loss", "bce", *FAST)
    assert_ok(r)
    assert "activations=[relu,relu,sigmoid], loss='bce'" in r.stdout
    assert "test accuracy" in r.stdout


def test_train_early_stopping_reports_the_restored_epoch(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "moons", "--epochs", "300", "--lr", "0.05",
                "--validation-split", "0.2", "--early-stopping", "3", "--quiet")
    assert_ok(r)
    assert "early stopping: best validation loss at epoch" in r.stdout


@pytest.mark.parametrize(("args", "fragments"), [
    (["train", "--data", "moons", "--label", "2"], ["--label", "built-in"]),
    (["train", "--data", "moons", "--early-stopping", "3"], ["--early-stopping",
                                                              "--validation-split"]),
    (["train", "--data", "moons", "--loss", "bce", "--test-size", "0"], None),
    (["train", "--data", "spirals", "--loss", "bce"], ["--loss bce", "0/1 labels"]),
    (["train", "--data", "moons", "--test-size", "-0.5"], ["--test-size"]),
])
def test_train_option_errors(tmp_path, args, fragments):
    r = run_cli(tmp_path, *args, *FAST)
    if fragments is None:
        assert_ok(r)
    else:
        assert_cli_error(r, *fragments)


def test_gradcheck_refuses_model_options_with_a_checkpoint(trained):
    d, model, _, _ = trained
    r = run_cli(d, "gradcheck", "--checkpoint", str(model), "--data", "spirals",
                "--hidden", "3")
    assert_cli_error(r, "--hidden", "--checkpoint")


def test_gradcheck_float32_on_a_device_without_float64(tmp_path):
    r = run_cli(tmp_path, "gradcheck", "--backend", "array_api_strict:no_float64",
                "--dtype", "float32")
    assert r.returncode in (0, 1), r.stderr
    assert "float32" in r.stdout
    r = run_cli(tmp_path, "gradcheck", "--backend", "array_api_strict:no_float64")
    assert_cli_error(r, "float64")


def test_plot_with_an_unknown_file_type_fails_before_training(tmp_path):
    r = run_cli(tmp_path, "train", "--data", "xor", *FAST, "--plot", "curves.txt",
                "--out", "m.npz")
    assert_cli_error(r, "--plot", ".png")
    assert "done:" not in r.stdout and not (tmp_path / "m.npz").exists()


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "block"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked for a test')")
    env = dict(_env(), PYTHONPATH=str(blocker))
    r = subprocess.run([sys.executable, "-m", "xprop", "train", "--data", "xor", *FAST,
                        "--plot", "c.png"], cwd=tmp_path, env=env, timeout=TIMEOUT,
                       capture_output=True, text=True)
    assert_cli_error(r, "--plot needs matplotlib", 'pip install "xprop[plot]"')
    assert "done:" not in r.stdout


def test_binary_files_give_clear_data_errors(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage\n")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    r = run_cli(tmp_path, "train", "--data", "bin.csv", *FAST)
    assert_cli_error(r, "bin.csv", "not a UTF-8 text CSV file")
    r = run_cli(tmp_path, "train", "--data", "junk.npz", *FAST)
    assert_cli_error(r, "junk.npz", "not an .npz (zip) archive")
    r = run_cli(tmp_path, "evaluate", "--checkpoint", "junk.npz", "--data", "xor")
    assert_cli_error(r, "junk.npz", "not an .npz (zip) archive")


def test_distributed_ranks_take_the_gpus_before_the_cpu():
    """``--distributed``: node-local ranks take the GPUs in turn (torch lists the CPU first;
    one GPU takes every rank), else the devices in turn when there are several."""
    from xprop.cli import rank_device

    assert [rank_device(["cpu", "cuda:0"], r) for r in range(3)] == ["cuda:0"] * 3
    assert [rank_device(["cpu", "cuda:0", "cuda:1"], r) for r in range(3)] == [
        "cuda:0", "cuda:1", "cuda:0"]
    assert [rank_device(["cpu:0", "cpu:1"], r) for r in range(3)] == ["cpu:0", "cpu:1", "cpu:0"]
    assert rank_device(["cpu"], 1) is None


def test_train_verbose_prints_a_line_every_n_epochs(tmp_path):
    """For logs (nohup, SLURM, CI), where the progress bar is not shown."""
    r = run_cli(tmp_path, "train", "--data", "xor", "--epochs", "6", "--verbose", "3",
                "--quiet")
    assert_ok(r)
    lines = [line.split() for line in r.stdout.splitlines() if line.startswith("epoch")]
    assert [words[1] for words in lines] == ["3/6", "6/6"]
    assert all("loss" in words and "accuracy" in words for words in lines)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_out_writes_every_digit(tmp_path, dtype, monkeypatch, capsys):
    """Before: --out wrote 9 significant digits, so float64 predictions in the file differed
    from ``xprop.load(...).predict`` by up to 3e-9 relative."""
    import xprop
    from xprop.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    np.savetxt("reg.csv", X, delimiter=",")  # features only: predict reads no label
    model = xprop.MLP([3, 5, 1], "tanh", "identity", "mse", seed=0, dtype=dtype)
    model.save("reg.npz")
    assert main(["predict", "--checkpoint", "reg.npz", "--data", "reg.csv", "--out",
                 "p.csv"]) == 0
    written = np.loadtxt("p.csv", delimiter=",").astype(dtype)
    np.testing.assert_array_equal(written, model.predict(X).ravel())


def test_a_checkpoint_reads_the_columns_it_was_trained_on(tmp_path, monkeypatch, capsys):
    """Before: a model trained with --label y (the first column) was evaluated against the
    last column and fed y as a feature (accuracy 0.49, exit 0), and a file whose header put
    the features in another order was predicted on silently (76% right instead of 99.7%).
    The checkpoint records the label column and the feature names; evaluate and predict
    read those columns by name."""
    import xprop
    from xprop.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    a, b, k = rng.normal(size=300), rng.normal(size=300), rng.integers(0, 2, 300)
    y = (a + 0.5 * b > 0).astype(int)
    for name, cols, head in (("first.csv", (y, a, b, k), "y,a,b,k"),
                             ("moved.csv", (b, a, k, y), "b,a,k,y"),
                             ("nolabel.csv", (k, b, a), "k,b,a"),
                             ("short.csv", (a, b, y), "a,b,y")):
        np.savetxt(name, np.c_[cols], delimiter=",", header=head, comments="", fmt="%.17g")
    assert main(["train", "--data", "first.csv", "--label", "y", "--out", "m.npz", "--quiet",
                 "--epochs", "60"]) == 0
    assert xprop.checkpoint.read("m.npz")[0]["columns"] == {"label": "y",
                                                            "features": ["a", "b", "k"]}
    scores = []
    for data in ("first.csv", "moved.csv"):
        capsys.readouterr()
        assert main(["evaluate", "--checkpoint", "m.npz", "--data", data]) == 0
        scores.append(capsys.readouterr().out.split("accuracy: ")[1].strip())
    assert scores[0] == scores[1] and float(scores[0]) > 0.95
    model = xprop.load("m.npz")
    expected = model.predict(np.c_[a, b, k])
    for data in ("first.csv", "nolabel.csv"):
        assert main(["predict", "--checkpoint", "m.npz", "--data", data, "--out", "p.csv",
                     "--force"]) == 0
        np.testing.assert_array_equal(np.loadtxt("p.csv", dtype=int), expected)
    capsys.readouterr()
    assert main(["predict", "--checkpoint", "m.npz", "--data", "short.csv"]) == 2
    assert "data: 'short.csv' has no column 'k', a feature of the model" in \
        capsys.readouterr().err


def test_ambiguous_header_names_are_read_by_position_and_splits_agree(tmp_path, monkeypatch,
                                                                       capsys):
    """Found by audit: a header ``a,a,label`` had evaluate and predict read the first ``a``
    twice (accuracy 0.47 with exit 0 for a model trained to 1.0); a label named ``1`` was
    read back as column index 1. Such layouts are recorded by position. ``evaluate
    --test-size`` scored other rows than train held out for 0.0/1.0 labels in a float array
    (0.80 against train's 0.45): both now split the targets as the head takes them."""
    import xprop
    from xprop.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    a1, a2 = rng.normal(size=200), rng.normal(size=200)
    y = (a2 > 0).astype(int)
    np.savetxt("dup.csv", np.c_[a1, a2, y], delimiter=",", header="a,a,label", comments="",
               fmt="%.17g")
    np.savetxt("num.csv", np.c_[a1, a2, y], delimiter=",", header="2019,2020,1", comments="",
               fmt="%.17g")
    for data in ("dup.csv", "num.csv"):
        assert main(["train", "--data", data, "--out", "m.npz", "--force", "--quiet",
                     "--epochs", "60", "--test-size", "0", "--header"]) == 0
        assert xprop.checkpoint.read("m.npz")[0]["columns"] == {"label": 2, "features": None}
        model = xprop.load("m.npz")
        want = model.accuracy(np.c_[a1, a2], y)
        capsys.readouterr()
        assert main(["evaluate", "--checkpoint", "m.npz", "--data", data, "--header"]) == 0
        assert f"accuracy: {want:.4f}" in capsys.readouterr().out
        assert main(["predict", "--checkpoint", "m.npz", "--data", data, "--label", "-1",
                     "--header", "--out", "p.csv", "--force"]) == 0
        np.testing.assert_array_equal(np.loadtxt("p.csv", dtype=int),
                                      model.predict(np.c_[a1, a2]))
    np.savez("fl.npz", X=np.c_[a1, a2][:100], y=rng.integers(0, 2, 100).astype(float))
    capsys.readouterr()
    assert main(["train", "--data", "fl.npz", "--out", "fl_m.npz", "--epochs", "50"]) == 0
    trained = capsys.readouterr().out.split("test accuracy ")[1].split()[0]
    assert main(["evaluate", "--checkpoint", "fl_m.npz", "--data", "fl.npz",
                 "--test-size", "0.2"]) == 0
    assert f"accuracy: {trained}" in capsys.readouterr().out


def test_outputs_write_through_links_and_special_files_and_never_over_an_input(tmp_path):
    """Found by audit: ``--out`` renamed a file over a device node, a FIFO and a symbolic
    link (the link replaced, its target unchanged; the FIFO's reader got nothing), reset a
    replaced file's permission bits to the umask's, and with --force replaced the command's
    own input. Now: a link's target is replaced atomically (the link stays), a FIFO or device
    is written in place, a replaced file keeps its mode, an input is refused."""
    import stat
    import threading

    from xprop.checkpoint import write_atomically

    (tmp_path / "real.txt").write_text("old")
    os.symlink("real.txt", tmp_path / "link.txt")
    write_atomically(str(tmp_path / "link.txt"), lambda fh: fh.write(b"new"))
    assert os.path.islink(tmp_path / "link.txt") and (tmp_path / "real.txt").read_text() == "new"
    os.chmod(tmp_path / "real.txt", 0o600)
    write_atomically(str(tmp_path / "real.txt"), lambda fh: fh.write(b"newer"))
    assert stat.S_IMODE(os.stat(tmp_path / "real.txt").st_mode) == 0o600
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_atomically(str(fifo), lambda fh: fh.write(b"through"))
    reader.join(10)
    assert got == [b"through"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    write_atomically(os.devnull, lambda fh: fh.write(b"nothing"))
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]))
    assert_cli_error(run_cli(tmp_path, "train", "--data", "d.npz", "--out", "d.npz",
                             "--force", "--epochs", "1"),
                     "--out: 'd.npz' is the --data file this command reads")
    assert (tmp_path / "d.npz").exists() and "X" in np.load(tmp_path / "d.npz")


def test_trace_takes_whole_class_labels_and_the_recorded_columns(tmp_path, monkeypatch, capsys):
    """Found by audit: ``trace --y 1.9`` traced class 1 and ``--y -0.5`` class 0 silently;
    ``trace``/``gradcheck --checkpoint`` read a reordered CSV by position (loss 20.2 where
    evaluate said 0.0006)."""
    from xprop.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=200), rng.normal(size=200)
    y = (a > 0).astype(int)
    np.savetxt("ab.csv", np.c_[a, 5 * b, y], delimiter=",", header="a,b,label", comments="")
    np.savetxt("ba.csv", np.c_[5 * b, a, y], delimiter=",", header="b,a,label", comments="")
    assert main(["train", "--data", "ab.csv", "--out", "m.npz", "--quiet", "--epochs", "40",
                 "--test-size", "0"]) == 0
    for bad in ("1.9", "-0.5"):
        capsys.readouterr()
        assert main(["trace", "--checkpoint", "m.npz", "--x", "0.1,0.2", "--y", bad]) == 2
        assert f"--y: expected a class label (0, 1, ...) per sample, got {bad}" in \
            capsys.readouterr().err
    losses = []
    for data in ("ab.csv", "ba.csv"):
        capsys.readouterr()
        assert main(["trace", "--checkpoint", "m.npz", "--data", data, "--samples", "3"]) == 0
        losses.append([line for line in capsys.readouterr().out.splitlines()
                       if line.strip().startswith("L ")])
    assert losses[0] == losses[1] and losses[0]


def test_library_errors_name_the_flags_and_hint_what_fits(tmp_path):
    """Found by audit: ``test_size:``/``label:`` where the user typed ``--test-size``/
    ``--label``; an empty target column reported as ``layer_sizes[3]``; a semicolon file
    asked whether its second line was a header; ``--label`` silently ignored for .npz."""
    np.savez(tmp_path / "empty_y.npz", X=np.zeros((20, 2)), y=np.zeros((20, 0)))
    np.savez(tmp_path / "lone.npz", X=np.arange(40.0).reshape(20, 2), y=np.r_[[0, 1] * 9 + [0], 2])
    np.savez(tmp_path / "ok.npz", X=np.zeros((20, 2)), y=np.arange(20) % 2)
    (tmp_path / "semi.csv").write_text("a;b;label\n1;2;0\n3;4;1\n")
    assert_cli_error(run_cli(tmp_path, "train", "--data", "empty_y.npz"),
                     "y: expected at least one target column, got shape (20, 0)")
    assert_cli_error(run_cli(tmp_path, "train", "--data", "xor", "--test-size", "0.9"),
                     "xprop: error: --test-size: 0.9 leaves 4 test and 0 training samples of 4, "
                     "fewer than the 2 classes to stratify (--test-size 0: no test split)")
    r = run_cli(tmp_path, "train", "--data", "lone.npz")  # a class of one sample
    assert_cli_error(r, "xprop: error: --test-size: a split by class expects at least 2 "
                        "samples of each class, got 1 of class 2 (--test-size 0: no test split)")
    assert_cli_error(run_cli(tmp_path, "train", "--data", "semi.csv"),
                     "non-numeric cell '1;2;0' at line 2", "another delimiter?")
    for flag in (("--label", "y"), ("--header",)):
        assert_cli_error(run_cli(tmp_path, "train", "--data", "ok.npz", *flag),
                         f"{flag[0]}: only for CSV files")


@pytest.mark.parametrize(("argv", "see"), [
    (["train", "--epohcs", "3"], "xprop train --help"),
    (["gradcheck", "extra"], "xprop gradcheck --help"),
    (["--frobnicate"], "xprop demo --help"),  # (no command: the demo's options)
])
def test_an_unknown_option_points_to_its_commands_help(capsys, argv, see):
    from xprop.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line == f"xprop: error: unrecognized arguments: {' '.join(argv[1:] or argv)} " \
        f"(see {see})"


def test_sixth_audit_cli_cases(tmp_path):
    """Found by audit: a mistyped command read as unrecognized arguments of ``demo``; an
    existing /dev/stdout needed --force (and /dev/null got a suffix: /dev/null.npz)."""
    r = run_cli(tmp_path, "trian", "--data", "moons")
    assert r.returncode == 2
    assert r.stderr.startswith("xprop: error: unknown command 'trian' (did you mean 'train'?)")
    assert xprop.checkpoint.check_writable("/dev/null", overwrite=False) == "/dev/null"


def test_schedule_flag_takes_what_fit_config_takes(tmp_path):
    """Found by audit: ``--schedule`` had argparse choices of its own, so ``Cosine`` was
    refused where FitConfig (and ``--optimizer Adam``) take any case; now FitConfig alone
    checks it, its one-line error naming the flag."""
    assert_ok(run_cli(tmp_path, "train", "--data", "xor", "--epochs", "2", "--quiet",
                      "--schedule", "Cosine", "--optimizer", "Adam"))
    assert_cli_error(run_cli(tmp_path, "train", "--data", "xor", "--epochs", "2", "--quiet",
                             "--schedule", "linear"),
                     "--schedule", "expected one of ['constant', 'cosine', 'step']", "'linear'")


def test_a_model_reads_its_features_by_name_or_refuses(tmp_path, monkeypatch, capsys):
    """Found by audit: a model trained on columns a,b,c read a file headed ``b,a,b`` by
    position (its columns fed as a,b,c, exit 0), and a header of numbers it was trained on
    (``--header``) was read as a data row without ``--header`` (one prediction too many, all
    shifted). A header naming one of the features twice is refused; a first row of numbers
    holding every feature's name is refused as ambiguous without ``--header`` or
    ``--no-header`` (it may be data: names 0,1 and 0/1 data); unrelated repeated columns do
    not matter."""
    from xprop.cli import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    for names in (["a", "b", "c"], ["2019", "2020", "2021"]):
        np.savetxt("t.csv", np.c_[X, y], delimiter=",", header=",".join([*names, "label"]),
                   comments="", fmt="%.17g")
        assert main(["train", "--data", "t.csv", "--out", "m.npz", "--force", "--quiet",
                     "--epochs", "30", "--header"]) == 0
        model = xprop.load("m.npz")
        want = xprop.to_numpy(model.predict(X[:5]))
        b, a, c = names[1], names[0], names[2]  # the file's columns in another order
        np.savetxt("p.csv", np.c_[X[:5, 1], X[:5, 0], X[:5, 2], X[:5, 2]], delimiter=",",
                   header=f"{b},{a},{c},extra", comments="", fmt="%.17g")
        capsys.readouterr()
        named = [] if names[0] == "a" else ["--header"]
        if named:  # a first row of numbers that holds every name: a header, or data?
            assert main(["predict", "--checkpoint", "m.npz", "--data", "p.csv"]) == 2
            assert "holds the model's feature names ['2019', '2020', '2021'], as numbers; " \
                "pass header=True (--header)" in capsys.readouterr().err
        assert main(["predict", "--checkpoint", "m.npz", "--data", "p.csv", *named]) == 0
        got = np.array(capsys.readouterr().out.split(), dtype=int)
        np.testing.assert_array_equal(got, want)
        np.savetxt("d.csv", np.c_[X[:5, 1], X[:5, 0], X[:5, 2], X[:5, 2], X[:5, 2]],
                   delimiter=",", header=f"{b},{a},{c},x,x", comments="", fmt="%.17g")
        assert main(["predict", "--checkpoint", "m.npz", "--data", "d.csv", *named]) == 0
        np.testing.assert_array_equal(np.array(capsys.readouterr().out.split(), dtype=int),
                                      want)
        np.savetxt("dup.csv", np.c_[X[:5, 1], X[:5, 0], X[:5, 1]], delimiter=",",
                   header=f"{b},{a},{b}", comments="", fmt="%.17g")
        assert main(["predict", "--checkpoint", "m.npz", "--data", "dup.csv", *named]) == 2
        err = capsys.readouterr().err
        assert f"header names the column {b!r} 2 times" in err and "found by name" in err


def test_outputs_to_stdout_or_devnull_hold_the_output_alone(tmp_path):
    """Found by audit: ``--out /dev/stdout`` wrote the report lines into the piped checkpoint
    or ONNX file (which then did not load, exit 0), and a checkpoint to ``/dev/null`` failed
    after training (a zip writer needs a file it can seek in). Files that are no regular
    file are written in one piece made in memory; the report goes to stderr when an output
    is stdout."""
    r = subprocess.run(f"{sys.executable} -m xprop train --data xor --epochs 20 --quiet "
                       "--out /dev/stdout | cat > piped.npz", shell=True, cwd=tmp_path,
                       env=_env(), timeout=TIMEOUT, capture_output=True, text=True)
    assert r.returncode == 0 and "saved checkpoint: /dev/stdout" in r.stderr, r.stderr
    model = xprop.load(tmp_path / "piped.npz")
    r = subprocess.run(f"{sys.executable} -m xprop predict --checkpoint piped.npz --data xor "
                       "--out /dev/stdout | cat > p.csv", shell=True, cwd=tmp_path,
                       env=_env(), timeout=TIMEOUT, capture_output=True, text=True)
    assert r.returncode == 0 and "saved 4 predictions" in r.stderr, r.stderr
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "p.csv", dtype=int),
                                  xprop.to_numpy(model.predict(xprop.datasets.xor()[0])))
    assert_ok(run_cli(tmp_path, "train", "--data", "xor", "--epochs", "5", "--quiet",
                      "--out", os.devnull))
    assert model.save(os.devnull) == os.devnull
    r = subprocess.run(f"{sys.executable} -m xprop train --data xor --epochs 5 --quiet "
                       "--out /dev/stdout > reg.npz", shell=True, cwd=tmp_path, env=_env(),
                       timeout=TIMEOUT, capture_output=True, text=True)
    assert_cli_error(r, "--out: '/dev/stdout' is standard output, redirected to a file")


def test_an_interrupt_after_training_keeps_the_checkpoint(tmp_path, monkeypatch):
    """Found by audit: Ctrl-C or SIGTERM while ``xprop train`` reported its accuracies (full
    passes over the data) lost the trained model. It is saved before the report."""
    from xprop import cli

    monkeypatch.chdir(tmp_path)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_report", interrupted)
    assert cli.main(["train", "--data", "xor", "--epochs", "30", "--quiet",
                     "--out", "m.npz"]) == 130
    assert xprop.load("m.npz").count_parameters() > 0


def test_an_output_that_overflows_predicts_no_class(tmp_path, capsys):
    """Found by audit: a finite input whose forward pass overflows gave NaN probabilities,
    which ``predict`` turned into class 0 (``xprop predict`` printed 0, exit 0)."""
    from xprop.cli import main
    from xprop.sklearn import MLPClassifier

    huge = np.array([[0.0, 0.0], [1e10, 0.0]], dtype=np.float32)  # row 1: 1e10 * 1e30
    big, signs = [[1e30, 1e30], [0.0, 0.0]], [[1.0, -1.0], [-1.0, 1.0]]  # overflows: inf - inf
    model = xprop.MLP.from_arrays([big, signs], None, "relu", "softmax", "cross_entropy",
                                  dtype="float32")
    for call in (lambda: model.predict(huge), lambda: model.accuracy(huge, [0, 0])):
        with pytest.raises(ValueError, match=r"^X: the network's output is NaN or inf for 1 "
                                             r"of 2 rows \(the first: row 1\)"):
            call()
    X, y = xprop.datasets.moons(40, seed=0)
    clf = MLPClassifier(hidden_layer_sizes=(2,), max_iter=5, dtype="float32",
                        random_state=0).fit(X, y)
    clf.coefs_ = [np.array(big, np.float32), np.array([[1.0], [-1.0]], np.float32)]
    with pytest.raises(ValueError, match="output is NaN or inf for 1 of 2 rows"):
        clf.predict(huge)
    assert np.isnan(clf.predict_proba(huge)[1]).all()  # the probabilities say so themselves
    model.save(tmp_path / "m.npz")
    np.savetxt(tmp_path / "huge.csv", huge, delimiter=",", fmt="%.9g")
    assert main(["predict", "--checkpoint", str(tmp_path / "m.npz"), "--data",
                 str(tmp_path / "huge.csv")]) == 2
    assert "output is NaN or inf" in capsys.readouterr().err


def test_checkpoints_load_in_the_dtype_asked(tmp_path, capsys):
    """Found by audit: ``trace`` and ``gradcheck`` ignored ``--dtype`` with ``--checkpoint``
    (a float64 checkpoint on a device without float64 blamed ``--dtype`` even when it was
    float32), and ``predict``/``evaluate`` advised ``dtype='float32'`` without such a flag."""
    from xprop.cli import main

    path = str(tmp_path / "m64.npz")
    xprop.MLP([2, 4, 1], "tanh", "sigmoid", "bce", seed=0).save(path)
    strict = ("--backend", "array_api_strict:no_float64")
    for command in ("evaluate", "predict", "trace", "gradcheck"):
        capsys.readouterr()
        assert main([command, "--checkpoint", path, "--data", "xor", *strict]) == 2
        assert "--dtype float32" in capsys.readouterr().err
        code = main([command, "--checkpoint", path, "--data", "xor", *strict,
                     "--dtype", "float32"])
        assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", path, "--data", "xor", "--dtype", "float32"]) == 0
    assert "dtype=float32" in capsys.readouterr().out
