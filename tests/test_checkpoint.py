"""Checkpoints (``model.save`` / ``xprop.load`` / ``xprop.checkpoint``): exact round trips for
several architectures and dtypes onto every backend, the JSON header, the atomic write, and a
clear :class:`xprop.CheckpointError` for every kind of bad file (read without pickle)."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xprop
from tests.helpers import assert_backend_array, host
from xprop import checkpoint
from xprop.tolerances import parity_atol, parity_rtol

ARCHS = {
    "tanh-sigmoid-bce": dict(layer_sizes=[2, 5, 1], activation="tanh",
                             output_activation="sigmoid", loss="bce"),
    "leaky-softmax-ce": dict(layer_sizes=[3, 4, 4, 3], activation="leaky_relu(0.2)",
                             output_activation="softmax", loss="cross_entropy"),
    "relu-nobias-mse": dict(layer_sizes=[4, 6, 2], activation="relu",
                            output_activation="identity", loss="mse", bias=False),
    "mixed-logits": dict(layer_sizes=[3, 5, 4, 1], activation=["gelu", "sigmoid"],
                         output_activation="identity", loss="bce_with_logits"),
    "single-layer": dict(layer_sizes=[3, 2], output_activation="identity", loss="half_sse"),
}


def _model(arch, dtype="float64", seed=0, **kw):
    cfg = dict(ARCHS[arch])
    sizes = cfg.pop("layer_sizes")
    model = xprop.MLP(sizes, seed=seed, dtype=dtype, **cfg, **kw)
    # non-zero biases, so a bias mix-up would show (cast on the host: float32-only devices)
    rng = np.random.default_rng(seed + 1)
    if model.bias:
        model.set_parameters({f"b{i}": rng.normal(size=sizes[i + 1]).astype(dtype)
                              for i in range(len(sizes) - 1)})
    return model


def _inputs(model, n=7):
    return np.random.default_rng(5).normal(size=(n, model.sizes[0]))


def _host_params(model):
    return {k: host(v).copy() for k, v in model.parameters().items()}


def _saved(tmp_path, arch="tanh-sigmoid-bce", dtype="float64", name="model.npz", **kw):
    model = _model(arch, dtype)
    path = model.save(tmp_path / name, **kw)
    return model, path


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: np.asarray(f[k]) for k in f.files}


def _header(path):
    return json.loads(str(_arrays(path)["header"][()]))


def _rewrite(path, out, header_changes=None, drop=(), replace=None):
    arrays = _arrays(path)
    if header_changes is not None:
        header = json.loads(str(arrays["header"][()]))
        header.update(header_changes)
        for k, v in header_changes.items():
            if v is None:
                del header[k]
        arrays["header"] = np.array(json.dumps(header))
    for k in drop:
        del arrays[k]
    arrays.update(replace or {})
    np.savez(out, **arrays)
    return out


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_round_trip_is_exact(tmp_path, arch, dtype):
    model = _model(arch, dtype)
    path = model.save(tmp_path / "m.npz")
    assert path == str(tmp_path / "m.npz") and os.path.isfile(path)
    loaded = xprop.load(path)
    assert loaded.sizes == model.sizes
    assert [a.name for a in loaded.activations] == [a.name for a in model.activations]
    assert loaded.loss_fn.name == model.loss_fn.name
    assert loaded.bias == model.bias
    assert list(loaded.parameters()) == list(model.parameters())
    for k, v in _host_params(model).items():
        got = host(loaded.parameters()[k])
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, v)
    X = _inputs(model)
    np.testing.assert_array_equal(host(loaded.predict_output(X)), host(model.predict_output(X)))
    np.testing.assert_array_equal(host(loaded.predict(X)), host(model.predict(X)))
    assert loaded.input_mean is None and loaded.input_std is None


@pytest.mark.parametrize("arch", ["leaky-softmax-ce", "relu-nobias-mse"])
def test_load_onto_every_backend(case, tmp_path, arch):
    model = _model(arch, case.dtype)  # saved from NumPy
    path = model.save(tmp_path / "m.npz")
    loaded = xprop.load(path, backend=case.backend)
    assert loaded.backend.xp is case.backend.xp
    for k, v in _host_params(model).items():
        p = loaded.parameters()[k]
        assert_backend_array(p, case.backend)
        got = host(p)
        assert got.dtype == np.dtype(case.dtype)
        np.testing.assert_array_equal(got, v)
    X = _inputs(model)
    out = loaded.predict_output(X)
    assert_backend_array(out, case.backend)
    np.testing.assert_allclose(host(out), host(model.predict_output(X)),
                               rtol=parity_rtol(case.dtype, 8), atol=parity_atol(case.dtype))


def test_save_on_every_backend_and_load_back(case, tmp_path):
    model = _model("leaky-softmax-ce", case.dtype, backend=case.backend)
    path = model.save(tmp_path / "m.npz")
    assert _header(path)["dtype"] == case.dtype
    loaded = xprop.load(path, backend=case.backend)
    for k, v in _host_params(model).items():
        np.testing.assert_array_equal(host(loaded.parameters()[k]), v)
    X = _inputs(model)
    np.testing.assert_array_equal(host(loaded.predict_output(X)), host(model.predict_output(X)))
    np.testing.assert_array_equal(host(loaded.predict(X)), host(model.predict(X)))
    # and onto NumPy, bit for bit
    on_numpy = xprop.load(path)
    for k, v in _host_params(model).items():
        np.testing.assert_array_equal(host(on_numpy.parameters()[k]), v)


def test_load_with_another_dtype(tmp_path):
    model, path = _saved(tmp_path, dtype="float32")
    loaded = xprop.load(path, dtype="float64")
    for k, v in _host_params(model).items():
        got = host(loaded.parameters()[k])
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, v.astype(np.float64))


def test_float64_checkpoint_on_a_float32_only_device_names_the_dtype(tmp_path):
    _, path = _saved(tmp_path, dtype="float64")
    backend = xprop.resolve_backend("array_api_strict", "no_float64")
    with pytest.raises(ValueError, match="float64"):
        xprop.load(path, backend=backend)


def test_float64_checkpoint_loads_as_float32_on_a_float32_only_device(tmp_path):
    model, path = _saved(tmp_path, dtype="float64")
    backend = xprop.resolve_backend("array_api_strict", "no_float64")
    loaded = xprop.load(path, backend=backend, dtype="float32")
    for k, v in _host_params(model).items():
        np.testing.assert_array_equal(host(loaded.parameters()[k]), v.astype(np.float32))


def test_save_appends_npz_and_module_function(tmp_path):
    model = _model("tanh-sigmoid-bce")
    path = model.save(tmp_path / "noext")
    assert path == str(tmp_path / "noext.npz") and os.path.isfile(path)
    path2 = checkpoint.save(model, str(tmp_path / "other.npz"))
    assert path2 == str(tmp_path / "other.npz")
    assert _arrays(path).keys() == _arrays(path2).keys()


def test_input_standardisation_round_trip(tmp_path):
    mean, std = np.array([1.5, -2.0]), np.array([0.5, 3.0])
    _, path = _saved(tmp_path, input_mean=mean, input_std=std)
    loaded = xprop.load(path)
    assert loaded.input_mean.dtype == np.float64 and loaded.input_std.dtype == np.float64
    np.testing.assert_array_equal(loaded.input_mean, mean)
    np.testing.assert_array_equal(loaded.input_std, std)
    _, plain = _saved(tmp_path, name="plain.npz")
    assert "input_mean" not in _arrays(plain)
    assert xprop.load(plain).input_mean is None


def test_input_mean_without_std_is_not_stored_as_nan(tmp_path):
    model = _model("tanh-sigmoid-bce")
    try:
        path = model.save(tmp_path / "m.npz", input_mean=np.array([1.0, 2.0]))
    except ValueError:
        return  # refusing it is fine too
    std = xprop.load(path).input_std
    assert std is None or np.all(np.isfinite(std))


# --------------------------------------------------------------------------- header


def test_header_fields(tmp_path):
    model = _model("leaky-softmax-ce", "float32")
    path = model.save(tmp_path / "m.npz")
    arrays = _arrays(path)
    assert set(arrays) == {"header", "W0", "b0", "W1", "b1", "W2", "b2"}
    assert arrays["header"].shape == () and arrays["header"].dtype.kind == "U"
    header = _header(path)
    assert header["format"] == "xprop-mlp"
    assert header["format_version"] == checkpoint.FORMAT_VERSION == 1
    assert header["xprop_version"] == xprop.__version__
    assert header["layer_sizes"] == [3, 4, 4, 3]
    assert header["activations"] == ["leaky_relu(0.2)", "leaky_relu(0.2)", "softmax"]
    assert header["loss"] == "cross_entropy"
    assert header["bias"] is True
    assert header["dtype"] == "float32"
    assert header["parameters"] == {"W0": [3, 4], "b0": [4], "W1": [4, 4], "b1": [4],
                                    "W2": [4, 3], "b2": [3]}
    for name, shape in header["parameters"].items():
        assert list(arrays[name].shape) == shape and arrays[name].dtype == np.float32
    nobias = _header(_model("relu-nobias-mse").save(tmp_path / "nb.npz"))
    assert nobias["bias"] is False and nobias["dtype"] == "float64"
    assert set(nobias["parameters"]) == {"W0", "W1"}


# --------------------------------------------------------------------------- writing


def _listing(directory):
    return sorted(os.listdir(directory))


def _interrupted_save(tmp_path, monkeypatch, target, exc):
    """Save model A, then make saving model B fail mid-write; the file must still be A."""
    model_a, path = _saved(tmp_path, "tanh-sigmoid-bce")
    before = open(path, "rb").read()
    model_b = _model("tanh-sigmoid-bce", seed=9)
    if target == "savez":
        def broken_savez(fh, **arrays):
            fh.write(b"PK\x03\x04 half a zip")  # some bytes reach the temporary file
            raise exc

        monkeypatch.setattr(np, "savez", broken_savez)
    else:
        def broken_replace(src, dst):
            assert os.path.isfile(src)  # the complete temporary file exists at this point
            raise exc

        monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(type(exc)):
        model_b.save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert _listing(tmp_path) == ["model.npz"]  # no temporary file left behind
    loaded = xprop.load(path)
    for k, v in _host_params(model_a).items():
        np.testing.assert_array_equal(host(loaded.parameters()[k]), v)


@pytest.mark.parametrize("target", ["savez", "replace"])
def test_write_is_atomic_on_error(tmp_path, monkeypatch, target):
    _interrupted_save(tmp_path, monkeypatch, target, OSError("disk full"))


def test_write_is_atomic_on_keyboard_interrupt(tmp_path, monkeypatch):
    _interrupted_save(tmp_path, monkeypatch, "savez", KeyboardInterrupt())


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_savez(fh, **arrays):
        raise RuntimeError("boom")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="boom"):
        _model("tanh-sigmoid-bce").save(tmp_path / "m.npz")
    assert _listing(tmp_path) == []


def test_overwrite(tmp_path):
    _, path = _saved(tmp_path)
    before = open(path, "rb").read()
    model_b = _model("tanh-sigmoid-bce", seed=3)
    with pytest.raises(FileExistsError, match="exists"):
        model_b.save(path, overwrite=False)
    with pytest.raises(FileExistsError):
        model_b.save(path[: -len(".npz")], overwrite=False)  # the same file after ".npz"
    assert open(path, "rb").read() == before
    assert model_b.save(tmp_path / "new.npz", overwrite=False).endswith("new.npz")
    model_b.save(path)  # overwrite=True is the default
    np.testing.assert_array_equal(host(xprop.load(path).parameters()["W0"]),
                                  host(model_b.parameters()["W0"]))
    assert _listing(tmp_path) == ["model.npz", "new.npz"]


def test_a_file_as_directory_and_a_nul_character_are_one_line_errors(tmp_path):
    """Found by audit: a file where the directory should be was reported as a missing
    directory, and a NUL character in the name raised the os module's own message."""
    (tmp_path / "file.npz").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"checkpoint: '.*file\.npz' is a file, not a dir"):
        _model("tanh-sigmoid-bce").save(tmp_path / "file.npz" / "m.npz")
    with pytest.raises(ValueError, match="path: expected a file name without NUL characters"):
        _model("tanh-sigmoid-bce").save(str(tmp_path / "a\0b.npz"))
    assert _listing(tmp_path) == ["file.npz"]


def test_missing_directory(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _model("tanh-sigmoid-bce").save(target)
    assert _listing(tmp_path) == []


# --------------------------------------------------------------------------- reading bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz.*does not exist"):
        xprop.load(tmp_path / "nope.npz")


def test_corrupt_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(1).bytes(2000))
    with pytest.raises(xprop.CheckpointError, match=r"junk\.npz.*corrupt"):
        xprop.load(path)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(xprop.CheckpointError, match=r"empty\.npz.*corrupt"):
        xprop.load(empty)


def test_truncated_file(tmp_path):
    _, path = _saved(tmp_path)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(xprop.CheckpointError, match=r"cut\.npz.*corrupt or truncated"):
        xprop.load(cut)


def test_a_member_declaring_more_than_it_holds_is_refused_before_allocating(tmp_path):
    """Found by audit: a 2 kB file whose headers declare a network of 2**37 units made the
    load allocate 1 TiB (MemoryError); an array is read only when its member can hold what
    its header declares, and a name stored twice is refused."""
    import io

    _, path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (2**37,)})
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in members.items():
            z.writestr(n, header.getvalue() if n == "header.npy" else data)
    with pytest.raises(xprop.CheckpointError, match=r"declares shape \(137438953472,\)"
                                                    r".*cannot hold: corrupt archive"):
        xprop.load(bad)
    data = tmp_path / "data.npz"  # a data file's arrays alike
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("X.npy", header.getvalue())
    with pytest.raises(ValueError, match=r"array 'X' declares .*cannot hold"):
        xprop.datasets.load_npz(data)
    twice = tmp_path / "twice.npz"
    with zipfile.ZipFile(twice, "w") as z:
        for n, data in [*members.items(), ("W0.npy", members["W0.npy"])]:
            z.writestr(n, data)
    with pytest.raises(xprop.CheckpointError, match=r"more than one member named 'W0\.npy'"):
        xprop.load(twice)
    # a raw member "W0" beside "W0.npy": NumPy reads it for "W0", unchecked (7 TiB declared)
    alias = tmp_path / "alias.npz"
    with zipfile.ZipFile(alias, "w") as z:
        for n, data in [*members.items(), ("W0", header.getvalue())]:
            z.writestr(n, data)
    for load in (xprop.load, xprop.datasets.load_npz):
        with pytest.raises(ValueError, match=r"holds a member that is not an \.npy array: 'W0'"):
            load(alias)


def test_unreadable_members_are_value_errors(tmp_path):
    """Found by audit: a corrupt deflate stream (zlib.error), entries flagged encrypted
    (RuntimeError) or compressed by a method zipfile lacks (NotImplementedError) escaped
    load and load_npz; they are the corrupt-archive ValueError naming the file."""
    good = tmp_path / "good.npz"
    np.savez_compressed(good, X=np.arange(4000.0).reshape(-1, 2), y=np.zeros(2000))
    with zipfile.ZipFile(good) as z:
        infos = z.infolist()

    def patched(name, flag=None, method=None, stream=False):
        data = bytearray(good.read_bytes())
        for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
            i = data.find(sig)
            while i != -1:  # every local and central header
                if flag is not None:
                    struct.pack_into("<H", data, i + flag_at, flag)
                if method is not None:
                    struct.pack_into("<H", data, i + method_at, method)
                i = data.find(sig, i + 4)
        for info in infos if stream else ():  # each member's deflate stream overwritten
            start = info.header_offset + 30 + len(info.filename) + len(info.extra)
            data[start + 2:start + info.compress_size - 2] = b"\xff" * (info.compress_size - 4)
        path = tmp_path / f"{name}.npz"
        path.write_bytes(bytes(data))
        return path

    for path in (patched("damaged", stream=True), patched("flagged", flag=1),
                 patched("deflate64", method=9)):
        with pytest.raises(ValueError, match=rf"data file '.*{path.name}': corrupt or trunc"):
            xprop.datasets.load_npz(path)



def test_damaged_member(tmp_path):
    _, path = _saved(tmp_path)
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("W0.npy").compress_type == zipfile.ZIP_STORED
    # flip a byte inside W0's stored data: the zip's CRC check must catch it
    pos = bytes(data).find(_arrays(path)["W0"].tobytes())
    assert pos > 0
    data[pos + 3] ^= 0xFF
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(xprop.CheckpointError, match="corrupt or truncated"):
        xprop.load(bad)


def test_wrong_format_version(tmp_path):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "v2.npz", {"format_version": 2})
    with pytest.raises(xprop.CheckpointError, match=r"format_version 2.*reads version 1"):
        xprop.load(out)
    out = _rewrite(path, tmp_path / "nov.npz", {"format_version": None})
    with pytest.raises(xprop.CheckpointError, match="format_version None"):
        xprop.load(out)


def test_wrong_format_name(tmp_path):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "other.npz", {"format": "keras"})
    with pytest.raises(xprop.CheckpointError, match="format 'keras', expected 'xprop-mlp'"):
        xprop.load(out)


def test_missing_header(tmp_path):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "nohead.npz", drop=["header"])
    with pytest.raises(xprop.CheckpointError, match="no xprop header"):
        xprop.load(out)
    plain = tmp_path / "data.npz"
    np.savez(plain, X=np.ones((2, 2)), y=np.array([0, 1]))
    with pytest.raises(xprop.CheckpointError, match="no xprop header"):
        xprop.load(plain)


def test_unreadable_header(tmp_path):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "bad.npz", replace={"header": np.array("{not json")})
    with pytest.raises(xprop.CheckpointError, match="unreadable header"):
        xprop.load(out)


@pytest.mark.parametrize("header", [np.array(json.dumps([1, 2])), np.array(5)],
                         ids=["json-list", "number"])
def test_header_that_is_not_a_json_object(tmp_path, header):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "odd.npz", replace={"header": header})
    with pytest.raises(xprop.CheckpointError, match="header"):
        xprop.load(out)


@pytest.mark.parametrize("key", ["layer_sizes", "activations", "loss", "bias", "dtype",
                                 "parameters"])
def test_header_lacking_a_field(tmp_path, key):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "lack.npz", {key: None})
    with pytest.raises(xprop.CheckpointError, match=f"lacks '{key}'"):
        xprop.load(out)


def test_parameter_shape_mismatch(tmp_path):
    _, path = _saved(tmp_path)  # [2, 5, 1]
    out = _rewrite(path, tmp_path / "shape.npz", replace={"W0": np.zeros((2, 4))})
    with pytest.raises(xprop.CheckpointError, match=r"W0 has shape \(2, 4\), expected \(2, 5\)"):
        xprop.load(out)


def test_missing_parameter(tmp_path):
    _, path = _saved(tmp_path)
    out = _rewrite(path, tmp_path / "lack.npz", drop=["b1"])
    with pytest.raises(xprop.CheckpointError, match="lacks parameter 'b1'"):
        xprop.load(out)


def test_inconsistent_layers(tmp_path):
    _, path = _saved(tmp_path)  # [2, 5, 1]
    # shapes agree with a (doctored) header but the layers do not chain: 2->5 then 4->1
    params = {"W0": [2, 5], "b0": [5], "W1": [4, 1], "b1": [1]}
    out = _rewrite(path, tmp_path / "chain.npz", {"parameters": params},
                   replace={"W1": np.zeros((4, 1))})
    with pytest.raises(xprop.CheckpointError, match=r"W1 has shape \(4, 1\), expected \(5, 1\)"):
        xprop.load(out)
    # parameters that chain but disagree with layer_sizes
    out = _rewrite(path, tmp_path / "sizes.npz", {"layer_sizes": [2, 6, 1]})
    with pytest.raises(xprop.CheckpointError,
                       match=r"W0 has shape \(2, 5\), expected \(2, 6\) \(layer sizes "
                             r"\[2, 6, 1\]\)"):
        xprop.load(out)


def test_object_arrays_are_refused(tmp_path):
    _, path = _saved(tmp_path)
    obj = np.empty(_arrays(path)["W0"].shape, dtype=object)
    obj[...] = {"a": 1}
    out = _rewrite(path, tmp_path / "obj.npz", replace={"W0": obj})
    with pytest.raises(xprop.CheckpointError, match=r"obj\.npz.*(allow_pickle|[Oo]bject)"):
        xprop.load(out)


def test_arrays_are_checked_against_the_header_before_they_are_read(tmp_path, monkeypatch):
    """Before: every array of the file was read first (a 2 MB file holding a zero-filled
    extra array made a load take 22 s and 2 GB), a header of float32 loaded float64 arrays
    with a silent cast, and ``bias: false`` dropped the biases the file held."""
    from xprop.datasets import NpzArchive

    _, path = _saved(tmp_path)
    read = []
    original = NpzArchive.read
    monkeypatch.setattr(NpzArchive, "read", lambda self, name: (read.append(name),
                                                                original(self, name))[1])
    cases = [
        ({"extra": np.zeros(10)}, None, r"arrays its header does not describe: \['extra'\]"),
        ({"W0": np.zeros((200, 300))}, None, r"parameter W0 has shape \(200, 300\), expected"),
        ({}, {"bias": False}, r"header parameters: expected \['W0', 'W1'\]"),
    ]
    for i, (replace, header, message) in enumerate(cases):
        read.clear()
        out = _rewrite(path, tmp_path / f"bad{i}.npz", header, replace=replace)
        with pytest.raises(xprop.CheckpointError, match=message):
            xprop.load(out)
        assert read == ["header"], read  # refused from the header and the shapes alone
    arrays = _arrays(path)
    out = _rewrite(path, tmp_path / "f32.npz", {"dtype": "float32"})  # the arrays are float64
    with pytest.raises(xprop.CheckpointError, match=r"W0: expected dtype float32 \(the "
                                                    r"header's\), got float64"):
        xprop.load(out)
    assert arrays["W0"].dtype == np.float64


def test_a_checkpoint_header_is_checked_whole(tmp_path):
    _, path = _saved(tmp_path)
    for version in (True, 1.0):
        out = _rewrite(path, tmp_path / "v.npz", {"format_version": version})
        with pytest.raises(xprop.CheckpointError, match="format_version"):
            xprop.load(out)
    arrays = _arrays(path)
    arrays["header"] = np.array("[" * 100000 + "]" * 100000)
    np.savez(tmp_path / "deep.npz", **arrays)
    with pytest.raises(xprop.CheckpointError, match=r"unreadable header \(RecursionError"):
        xprop.load(tmp_path / "deep.npz")
    params = {**_header(path)["parameters"], "W0": [9, 9]}
    out = _rewrite(path, tmp_path / "shape.npz", {"parameters": params})
    with pytest.raises(xprop.CheckpointError,
                       match=r"header parameters: W0 has shape \(9, 9\), expected \(2, 5\)"):
        xprop.load(out)


def test_files_are_read_without_pickle(tmp_path, monkeypatch):
    _, path = _saved(tmp_path)
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle", "default"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    xprop.load(path)
    assert calls and all(c is False for c in calls)


def test_npy_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.ones((2, 5)))
    with pytest.raises(xprop.CheckpointError):
        xprop.load(path)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(xprop.CheckpointError, ValueError)
    assert xprop.CheckpointError is checkpoint.CheckpointError


def test_load_blames_the_caller_not_the_file_for_a_bad_dtype_or_device(tmp_path):
    m = xprop.MLP([2, 3, 1], dtype="float64")
    path = m.save(tmp_path / "m.npz")
    for bad in ("float16", "", 0, False):  # a falsy dtype read as "the saved one" before
        with pytest.raises(xprop.BackendError, match=r"^dtype: expected one of"):
            xprop.load(path, dtype=bad)
    with pytest.raises(xprop.BackendError, match=r"no_float64"):
        xprop.load(path, backend="array_api_strict:no_float64")
    assert xprop.load(path, backend="array_api_strict:no_float64", dtype="float32")


# --------------------------------------------------------------------------- save = load

vectors = st.one_of(
    st.none(),
    st.integers(1, 4).flatmap(lambda n: st.lists(
        st.floats(-1e3, 1e3, allow_subnormal=False) | st.sampled_from([0.0, -1.0, np.nan, np.inf]),
        min_size=n, max_size=n).map(np.array)),
    st.just(np.array(["a", "b"])))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch=st.sampled_from(sorted(ARCHS)), dtype=st.sampled_from(["float32", "float64"]),
       mean=vectors, std=vectors, poison=st.none() | st.integers(0, 50))
def test_save_writes_only_what_load_reads(tmp_path, arch, dtype, mean, std, poison):
    """``save`` runs ``load``'s checks before writing: it either refuses with the message
    ``load`` gives for the same contents (and leaves the file there untouched), or writes a
    file that loads and predicts bit for bit (the standardisation included)."""
    model = _model(arch, dtype)
    if poison is not None:  # a diverged run: a NaN somewhere in the parameters
        model.params.buffer[poison % model.params.buffer.shape[0]] = np.nan
    path = str(tmp_path / "m.npz")
    with open(path, "wb") as f:
        f.write(b"a good file")
    try:
        model.save(path, input_mean=mean, input_std=std)
    except xprop.CheckpointError as e:
        refused = str(e)
        with open(path, "rb") as f:
            assert f.read() == b"a good file"
        header, arrays = checkpoint.contents(model)
        for name, value in (("input_mean", mean), ("input_std", std)):
            arrays.pop(name, None)
            if value is not None:
                arrays[name] = value
        np.savez(path, **arrays, header=np.array(json.dumps(header)))
        with pytest.raises(xprop.CheckpointError) as read:
            xprop.load(path)
        assert str(read.value) == refused
        return
    loaded = xprop.load(path)
    X = np.random.default_rng(0).normal(size=(5, model.sizes[0])) * 3 + 1
    if mean is not None:
        model.set_standardizer(xprop.datasets.Standardizer(mean.astype(float),
                                                           std.astype(float)))
    np.testing.assert_array_equal(host(loaded.predict_output(X)), host(model.predict_output(X)))


def test_save_refuses_a_zero_std_as_load_does(tmp_path):
    """Before: ``save`` wrote input_std 0 over a good file, and ``load`` refused the file."""
    m = xprop.MLP([2, 3, 1])
    path = m.save(tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    with pytest.raises(xprop.CheckpointError, match=r"input_std: expected values > 0, got 0\.0"):
        m.save(path, input_mean=np.zeros(2), input_std=np.array([1.0, 0.0]))
    with pytest.raises(xprop.CheckpointError,
                       match=r"array input_mean has shape \(3,\), expected \(2,\)"):
        m.save(path, input_mean=np.zeros(3), input_std=np.ones(3))
    with pytest.raises(xprop.CheckpointError, match=r"input_mean: expected finite"):
        m.save(path, input_mean=np.array([0.0, np.nan]), input_std=np.ones(2))
    assert (tmp_path / "m.npz").read_bytes() == before


def test_a_loaded_model_saves_its_csv_columns_again(tmp_path):
    """Found by audit: xprop.load(p).save(q) dropped the CSV layout xprop train recorded, so
    xprop predict then read a reordered file by position, silently."""
    model = xprop.MLP([3, 4, 2], "relu", "softmax", "cross_entropy", seed=0)
    columns = {"label": "target", "features": ["a", "b", "c"]}
    model.save(tmp_path / "m.npz", columns=columns)
    loaded = xprop.load(tmp_path / "m.npz")
    assert loaded.columns == columns
    loaded.astype("float32").save(tmp_path / "again.npz")
    assert xprop.load(tmp_path / "again.npz").columns == columns
    assert xprop.MLP([3, 4, 2]).columns is None
