"""Fuzz tests (hypothesis) over the file loaders, checkpoint headers and the CLI's argument
lists: whatever the input, the result is data, or a clear error of the documented kinds
(ValueError/TypeError/OSError for files, CheckpointError for checkpoints, exit codes 0-3 with
one line on stderr for the CLI): never another exception, a traceback or a hang."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import xprop
from xprop import datasets
from xprop.cli import main

FILE_ERRORS = (ValueError, TypeError, OSError)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

cells = st.one_of(st.integers(-5, 5).map(str), st.floats(allow_nan=True).map(repr),
                  st.sampled_from(["", " ", "a", "nan", "inf", "-", "1e400", "0x1", "\"", "1,2"]))


@SETTINGS
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=4), min_size=0, max_size=6),
       header=st.booleans())
def test_csv_loader(rows, header):
    text = ("a,b,c\n" if header else "") + "\n".join(",".join(r) for r in rows)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.csv")
        with open(path, "w") as fh:
            fh.write(text)
        try:
            X, y = datasets.load_csv(path)
        except FILE_ERRORS as e:
            assert str(e) and "\n" not in str(e).strip()
            return
        assert X.ndim == 2 and X.shape[0] == len(y) and np.all(np.isfinite(X))


arrays = st.one_of(
    st.builds(lambda s, k: np.random.default_rng(s).standard_normal(k), st.integers(0, 9),
              st.sampled_from([(0,), (3,), (3, 2), (2, 0), (3, 2, 1)])),
    st.just(np.array(["a", "b"])), st.just(np.array([True, False, True])),
    st.just(np.array([np.nan, 1.0, 2.0])), st.just(np.array(3.0)), st.just(np.arange(3)),
)


@SETTINGS
@given(contents=st.dictionaries(st.sampled_from(["X", "y", "z", "labels"]), arrays,
                                max_size=3))
@example(contents={"X": np.zeros((3, 2)), "y": np.array(3.0)})  # a 0-d y (found by CI)
def test_npz_loader(contents):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.npz")
        np.savez(path, **contents)
        try:
            X, y = datasets.load_npz(path)
        except FILE_ERRORS as e:
            assert str(e) and "\n" not in str(e).strip()
            return
        assert X.ndim == 2 and X.shape[0] == len(y)


header_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.text(max_size=5),
                          st.lists(st.integers(0, 5), max_size=4),
                          st.lists(st.sampled_from(["tanh", "relu", "softmax", "x"]),
                                   max_size=3))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    xprop.MLP([2, 3, 2], "tanh", "softmax", "cross_entropy").save(path)
    return dict(np.load(path))


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(
    ["format", "format_version", "layer_sizes", "activations", "loss", "bias", "dtype",
     "xprop_version", "extra"]), header_values, min_size=1, max_size=3),
       drop=st.booleans())
def test_checkpoint_headers(saved, changes, drop):
    header = json.loads(str(saved["header"]))
    for key, value in changes.items():
        if drop:
            header.pop(key, None)
        else:
            header[key] = value
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.npz")
        np.savez(path, **{**saved, "header": np.array(json.dumps(header))})
        try:
            model = xprop.load(path)
        except xprop.CheckpointError as e:
            assert str(e) and "\n" not in str(e).strip()
            return
        assert model.sizes[0] == 2


tokens = st.sampled_from([
    "train", "gradcheck", "evaluate", "predict", "info", "--data", "xor", "moons", "nope.csv",
    "--epochs", "0", "-1", "2", "abc", "--hidden", "4,4", "0", "--lr", "1e9", "--dtype",
    "float16", "--backend", "numpy", "bogus", "--out", "/", "--samples", "--mode", "fast",
    "--loss", "bce", "mse", "--validation-split", "0.5", "2.0", "--early-stopping", "--json",
    "--schedule", "step", "--batch-size", "--test-size", "--step", "1e-300", "--quiet"])


@settings(max_examples=40, deadline=None)
@given(argv=st.lists(tokens, max_size=7))
def test_cli_argument_lists(argv):
    argv = [*argv, "--epochs", "1"] if argv[:1] == ["train"] else argv
    if argv[:1] in (["evaluate"], ["predict"]):
        argv = argv[:1]  # they need a checkpoint file: covered by their own tests
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        out, err = io.StringIO(), io.StringIO()
        os.chdir(d)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        except SystemExit as e:  # argparse: usage errors and --help
            code = e.code
        finally:
            os.chdir(here)
        assert code in (0, 1, 2, 3), (argv, code, err.getvalue())
        assert "Traceback" not in err.getvalue()
        if code == 2:
            assert err.getvalue().strip(), argv
