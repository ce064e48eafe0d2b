"""The whole GPU check in one command: the CUDA and parity tests, the parity report and the
training-step benchmarks, written under one dated folder in ``docs/gpu-check/``.

    scripts/gpu_check.sh                    # GPU here: the GPU form; else the CPU form
    scripts/gpu_check.sh --wheels wheels/   # no internet: pip install --target these first
    scripts/gpu_check.sh --quick --out DIR  # CI: a short CPU form (numpy, torch, strict)
    scripts/gpu_check.sh --dry-run          # the plan (steps, commands, time limits) only

Steps, one after the other, each in its own process with a time limit (a failing or timed-out
step is reported and the next one runs):

GPU form (an NVIDIA GPU answers through nvidia-smi, PyTorch or CuPy):
    1. ``XPROP_REQUIRE_CUDA=1 python -m pytest -m "cuda or parity"`` (every test of the CuPy,
       torch-CUDA and JAX-on-the-GPU cells, and the parity tests on every backend; over
       pytest-xdist workers when it is installed)
    2. ``scripts/parity_report.py --quick --backends numpy,torch:cuda,cupy[,jax:gpu]``
    3. ``scripts/bench_step.py`` with ``--backend`` cupy, torch:cuda and (when JAX sees the
       GPU) jax:gpu: all five models and the width sweep, PyTorch CUDA eager as the reference
CPU form (no GPU, or --cpu): the same steps on the CPU backends: pytest
    ``-m "(cuda or parity) and not slow"`` (the CUDA cells skip; the slow full parity grid is
    left to the full test run), the report on numpy,torch, the benchmarks for numpy, torch
    and jax:cpu in their --quick form. --quick: CI's subset (tests on numpy, torch and
    array-api-strict, report on numpy,torch, a short benchmark of numpy and torch).

The first line printed says which form runs; without a GPU it begins with ``NO GPU FIGURE
PRODUCED``. Output: ``docs/gpu-check/<UTC date>-<gpu>/`` (``<date>-cpu-only`` for the CPU
forms, ignored by git so it is never committed as GPU results; ``-2``, ``-3``, ... when the
folder exists) holding SUMMARY.md (GPU name, driver, CUDA, versions, each step's exit status
and wall time, the benchmarks' RATIO lines), pytest.log, parity.md, parity.log and one
bench-<backend>.log per benchmark: at most 7 files. The whole run stays within --budget
seconds (each step gets at most its own cap and leaves the later steps their minimum). Exit
code 0 when every step passed, 1 when any failed or timed out, 2 for bad arguments or an
environment that cannot run the steps (nothing is run then).

--wheels DIR (or XPROP_WHEELS=DIR): ``pip install --no-index --no-deps --target <temp dir>``
every ``*.whl`` in DIR and put the temp dir first on PYTHONPATH for every step; for machines
without internet that lack array-api-compat or array-api-strict. Make the folder where pip
works: ``pip download --no-deps --only-binary=:all: -d wheels "array-api-compat>=1.11"
"array-api-strict>=2.6"`` (both are py3-none-any wheels).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parent.parent
WHEELS_ENV = "XPROP_WHEELS"
NO_GPU = "NO GPU FIGURE PRODUCED"
REQUIRED = ("numpy", "array_api_compat", "array_api_strict", "pytest", "hypothesis", "xprop")
BUDGET = {"gpu": 450.0, "cpu": 285.0, "cpu-quick": 240.0}  # seconds for the whole run
PROBE_TIMEOUT = 90.0


@dataclass
class Step:
    """One command of the check: ``cap`` is its own time limit, ``floor`` the least time it
    is worth starting with (later steps keep theirs out of the budget)."""

    name: str
    argv: list[str]
    log: str
    cap: float
    floor: float
    env: dict[str, str] = field(default_factory=dict)
    # filled in by run_step
    status: str = "not run"
    rc: int | None = None
    wall: float | None = None
    timeout: float | None = None
    result: str = ""

    def command(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        argv = ["python" if a == sys.executable else a for a in self.argv]
        return (prefix + " " if prefix else "") + shlex.join(argv)


# --------------------------------------------------------------------------- environment

PROBE = r"""
import importlib, json, os, platform, re, shutil, subprocess, sys
out = {"python": platform.python_version(), "executable": sys.executable,
       "platform": platform.platform(), "cpus": os.cpu_count(), "modules": {}, "gpu": {}}
def load(name):
    try:
        m = importlib.import_module(name)
    except Exception as e:
        out["modules"][name] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:200]}
        return None
    out["modules"][name] = {"version": str(getattr(m, "__version__", "?")),
                            "path": os.path.dirname(getattr(m, "__file__", None) or "?")}
    return m
for name in ("numpy", "array_api_compat", "array_api_strict", "pytest", "hypothesis", "xdist",
             "sklearn", "xprop"):
    load(name)
gpu = out["gpu"]
smi = shutil.which("nvidia-smi")
if smi:
    try:
        q = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        rows = [r.split(", ") for r in q.stdout.strip().splitlines() if r.strip()]
        if q.returncode == 0 and rows:
            gpu["smi_gpus"] = [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows
                               if len(r) >= 3]
        else:
            gpu["smi_error"] = (q.stderr or q.stdout).strip().splitlines()[:1]
        head = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
        m = re.search(r"CUDA Version:\s*([0-9.]+)", head)
        if m:
            gpu["driver_cuda"] = m.group(1)
    except Exception as e:
        gpu["smi_error"] = f"{type(e).__name__}: {e}"
else:
    gpu["smi_error"] = "not found"
torch = load("torch")
if torch is not None:
    try:
        gpu["torch_cuda"] = bool(torch.cuda.is_available())
        gpu["torch_cuda_version"] = torch.version.cuda
        if gpu["torch_cuda"]:
            gpu["torch_device"] = torch.cuda.get_device_name(0)
            gpu["torch_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    except Exception as e:
        gpu["torch_cuda"] = False
        gpu["torch_error"] = f"{type(e).__name__}: {e}"
if "version" in out["modules"]["xprop"]:
    import xprop
    probe = xprop.probe_cupy()
    gpu["cupy_usable"], gpu["cupy_reason"] = bool(probe.usable), str(probe.reason)
    cupy = load("cupy")
    if probe.usable and cupy is not None:
        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        gpu["cupy_device"] = name.decode() if isinstance(name, bytes) else str(name)
        gpu["cupy_runtime"] = rt.runtimeGetVersion()
        gpu["cupy_driver_api"] = rt.driverGetVersion()
jax = load("jax")
if jax is not None:
    load("jaxlib")
    try:
        devs = jax.devices()
        out["jax_devices"] = [str(d) for d in devs]
        gpu["jax_gpu"] = any(d.platform in ("gpu", "cuda", "rocm") for d in devs)
    except Exception as e:
        gpu["jax_gpu"] = False
        out["jax_error"] = f"{type(e).__name__}: {e}"
if not gpu.get("smi_gpus"):
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(h)
        driver = pynvml.nvmlSystemGetDriverVersion()
        gpu["nvml"] = {"name": name.decode() if isinstance(name, bytes) else name,
                       "driver": driver.decode() if isinstance(driver, bytes) else driver}
    except Exception:
        pass
print(json.dumps(out))
"""


def child_env(extra_path: list[str]) -> dict[str, str]:
    """The environment of every step: this tree's xprop (and any wheels) first on PYTHONPATH,
    unbuffered output, JAX not taking most of the GPU's memory (CuPy and torch share it)."""
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([*extra_path, str(REPO), *([old] if old else [])])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.pop("XPROP_REQUIRE_CUDA", None)  # only the GPU form's pytest step sets it
    return env


def install_wheels(folder: Path, target: Path, env: dict[str, str]) -> list[str]:
    """pip install every wheel of ``folder`` into ``target``; returns the wheels' names.
    Raises SystemExit(one-line message) when there is none or pip fails."""
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"--wheels: expected a folder holding *.whl files, got {str(folder)!r} "
                         "with none")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
           "--no-compile", "--no-cache-dir", "--disable-pip-version-check", "--target",
           str(target), *map(str, wheels)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"--wheels: pip install --target {target} failed (exit {r.returncode}):"
                         f" {last[0]}")
    return [w.name for w in wheels]


def probe(env: dict[str, str]) -> dict:
    """What the steps will find: versions and paths of the packages, the GPU (nvidia-smi,
    PyTorch, CuPy through xprop's own smoke test, JAX's devices). Run in a child process with
    the steps' environment."""
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           env=env, cwd=REPO, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"environment probe: expected an answer within {PROBE_TIMEOUT:.0f} s, "
                         "got none (a hung CUDA driver?)") from None
    lines = r.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"environment probe: expected JSON from {sys.executable}, got exit "
                         f"{r.returncode}: {last}") from None


def missing_modules(info: dict) -> list[str]:
    return [f"{m} ({info['modules'][m]['error']})" for m in REQUIRED
            if "error" in info["modules"].get(m, {"error": "not probed"})]


def gpu_present(info: dict) -> tuple[bool, str]:
    """Whether an NVIDIA GPU is here (any of nvidia-smi, PyTorch CUDA, CuPy), and why not."""
    g = info["gpu"]
    if g.get("smi_gpus") or g.get("torch_cuda") or g.get("cupy_usable") or g.get("nvml"):
        return True, ""
    torch = ("torch: not installed" if "torch" not in info["modules"]
             or "error" in info["modules"]["torch"] else "torch: no CUDA device")
    cupy = g.get("cupy_reason", "not probed (xprop did not import)").split(";")[0]
    return False, (f"no NVIDIA GPU here (nvidia-smi: {g.get('smi_error', 'no GPU listed')}; "
                   f"{torch}; {'' if cupy.startswith('CuPy') else 'CuPy: '}{cupy})")


def gpu_name(info: dict) -> str:
    g = info["gpu"]
    for name in ((g.get("smi_gpus") or [{}])[0].get("name"), g.get("nvml", {}).get("name"),
                 g.get("torch_device"), g.get("cupy_device")):
        if name:
            return str(name)
    return "unknown GPU"


def gpu_line(info: dict) -> str:
    g = info["gpu"]
    smi = (g.get("smi_gpus") or [{}])[0]
    driver = smi.get("driver") or g.get("nvml", {}).get("driver") or "?"
    parts = [gpu_name(info), f"driver {driver}", f"CUDA {g.get('driver_cuda', '?')} (driver)"]
    if smi.get("memory"):
        parts.append(smi["memory"])
    if g.get("torch_capability"):
        parts.append(f"compute capability {g['torch_capability']}")
    if len(g.get("smi_gpus") or []) > 1:
        parts.append(f"{len(g['smi_gpus'])} GPUs (the checks use GPU 0)")
    return ", ".join(parts)


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (shorter to read)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return re.sub(r"^nvidia-", "", s) or "gpu"


def version(info: dict, module: str) -> str:
    return info["modules"].get(module, {}).get("version", "missing")


# --------------------------------------------------------------------------- plan


def plan(form: str, info: dict, out: Path, jobs: int, xdist_version: str | None) -> list[Step]:
    py = sys.executable
    steps: list[Step] = []
    pytest = [py, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rfE", "--durations=15"]
    if jobs > 1:
        pytest += ["-n", str(jobs)]
        if xdist_version and tuple(int(x) for x in re.findall(r"\d+", xdist_version)[:2]) >= (
                3, 2):
            pytest += ["--dist", "worksteal"]
    jax_gpu = bool(info["gpu"].get("jax_gpu"))
    has_jax = "version" in info["modules"].get("jax", {})
    torch = ["torch"] if "version" in info["modules"].get("torch", {}) else []
    if form == "gpu":
        steps.append(Step("pytest", [*pytest, "-m", "cuda or parity"], "pytest.log", 270, 60,
                          {"XPROP_REQUIRE_CUDA": "1"}))
        cells = "numpy,torch:cuda,cupy" + (",jax:gpu" if jax_gpu else "")
        benches = ["cupy", "torch:cuda", *(["jax:gpu"] if jax_gpu else [])]
        bench_args = ["--rounds", "3", "--repeats", "2", "--target", "0.01", "--gap", "0.01"]
        parity_cap, bench_cap = 90, 60
    elif form == "cpu":
        steps.append(Step("pytest", [*pytest, "-m", "(cuda or parity) and not slow"],
                          "pytest.log", 150, 30))
        cells = ",".join(["numpy", *torch])  # JAX's cells: a minute each on 2 cores
        benches = ["numpy", *torch, *(["jax:cpu"] if has_jax else [])]
        bench_args = ["--quick"]
        parity_cap, bench_cap = 120, 45
    else:  # cpu-quick: CI
        steps.append(Step("pytest", [*pytest, "-m", "(cuda or parity) and not slow", "-k",
                                     "not jax and not device1 and not no_float64"],
                          "pytest.log", 120, 20))
        cells = ",".join(["numpy", *torch])
        benches = ["numpy", *torch]
        bench_args = ["--quick", "--models", "xor,digits", "--widths", "32,256"]
        parity_cap, bench_cap = 60, 45
    steps.append(Step("parity report", [py, "scripts/parity_report.py", "--quick", "--backends",
                                        cells, "--out", str(out / "parity.md")],
                      "parity.log", parity_cap, 15))
    for b in benches:  # JAX compiles each model and width first: more time on a CPU
        cap = bench_cap + (30 if b == "jax:cpu" else 0)
        steps.append(Step(f"bench {b}", [py, "scripts/bench_step.py", "--backend", b,
                                         "--sweep-backends", b, *bench_args],
                          f"bench-{slug(b)}.log", cap, 10))
    return steps


def step_timeout(steps: list[Step], i: int, remaining: float) -> float:
    """Step i's limit: its cap, but leaving every later step its floor."""
    reserve = sum(s.floor for s in steps[i + 1:])
    return min(steps[i].cap, remaining - reserve)


# --------------------------------------------------------------------------- running


def run_step(step: Step, timeout: float, out: Path, env: dict[str, str]) -> None:
    """Run ``step`` with its output in ``out/step.log``; kill its whole process group at the
    time limit (exit status 124, as timeout(1))."""
    step.timeout = timeout
    t0 = time.monotonic()
    with open(out / step.log, "w", encoding="utf-8") as log:
        log.write(f"$ {step.command()}\n")
        log.flush()
        proc = subprocess.Popen(step.argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**env, **step.env}, start_new_session=True)
        try:
            step.rc = proc.wait(timeout=timeout)
            step.status = "ok" if step.rc == 0 else "FAILED"
        except subprocess.TimeoutExpired:
            stop(proc)
            step.rc, step.status = 124, f"TIMEOUT after {timeout:.0f} s"
        except BaseException:  # Ctrl-C: take the step's processes down with us
            stop(proc)
            raise
    step.wall = time.monotonic() - t0
    step.result = result_of(step, out)


def stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def result_of(step: Step, out: Path) -> str:
    """A one-line result read from the step's output."""
    text = (out / step.log).read_text(encoding="utf-8", errors="replace")
    if step.name == "pytest":
        found = re.findall(r"^=*\s*((?:\d+ \w+(?:, )?)+) in ([\d.]+)s", text, re.M)
        return f"{found[-1][0]} in {found[-1][1]} s" if found else "no pytest summary line"
    if step.name == "parity report":
        report = out / "parity.md"
        if report.exists():
            found = re.findall(r"^Verdict: (.*)$", report.read_text(encoding="utf-8"), re.M)
            if found:
                return found[-1]
        return "no report written"
    found = re.findall(r"^total ([\d.]+) s", text, re.M)
    return f"finished in {found[-1]} s" if found else "no 'total' line"


def tail(path: Path, n: int = 15) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("    " + line for line in lines[-n:])


# --------------------------------------------------------------------------- summary


def summary(form: str, info: dict, steps: list[Step], meta: dict) -> str:
    gpu = form == "gpu"
    ok = [s for s in steps if s.status == "ok"]
    bad = [s for s in steps if s.status != "ok"]
    if gpu:
        head = f"# xprop GPU check: {gpu_name(info)}, {meta['date']}"
    else:
        head = (f"# CPU ONLY, {NO_GPU}: xprop GPU check in its {form} form, {meta['date']} "
                "(not GPU results)")
    done = all(s.status != "not run" for s in steps) or meta.get("finished")
    verdict = ("in progress: " if not done else "") + (
        f"all {len(steps)} steps passed" if not bad else
        f"{len(ok)}/{len(steps)} steps passed; not passed: "
        + ", ".join(f"{s.name} ({s.status})" for s in bad))
    mods = info["modules"]

    def v(m: str) -> str:
        return version(info, m)

    g = info["gpu"]
    torch_cuda = f" (CUDA {g['torch_cuda_version']})" if g.get("torch_cuda_version") else ""
    jaxlib = f" (jaxlib {v('jaxlib')})" if "jaxlib" in mods else ""
    lines = [head, ""]
    if not gpu:
        lines += [f"{NO_GPU}: {meta['why']}. These are CPU figures from the CPU form of "
                  "scripts/gpu_check.sh; never commit them as GPU results.", ""]
    lines += [
        f"- verdict: {verdict}",
        f"- command: `{meta['command']}` (form: {form}; budget {meta['budget']:.0f} s; "
        f"total wall time {meta['total']:.1f} s)",
        f"- date: {meta['datetime']}; machine: {info['platform']}, {info['cpus']} CPUs",
        f"- tree: {meta['git']}",
        f"- GPU: {gpu_line(info) if gpu else 'none: ' + meta['why']}",
    ]
    if gpu:
        lines.append(f"- CuPy: {v('cupy')} (usable: {g.get('cupy_usable')}; CUDA runtime "
                     f"{g.get('cupy_runtime', '?')}, driver API {g.get('cupy_driver_api', '?')}"
                     f"; {g.get('cupy_reason', '')}); torch CUDA: {g.get('torch_cuda')} "
                     f"(built for CUDA {g.get('torch_cuda_version')}, "
                     f"{g.get('torch_device', '-')}); JAX devices: "
                     f"{', '.join(info.get('jax_devices', [])) or '-'}")
    lines += [
        f"- Python {info['python']} ({info['executable']}), NumPy {v('numpy')}, "
        f"CuPy {v('cupy')}, torch {v('torch')}{torch_cuda}, JAX {v('jax')}{jaxlib}, "
        f"array-api-compat {v('array_api_compat')}, array-api-strict {v('array_api_strict')}, "
        f"pytest {v('pytest')}, pytest-xdist {v('xdist')}, hypothesis {v('hypothesis')}, "
        f"scikit-learn {v('sklearn')}, xprop {v('xprop')}",
        "- imported from: " + "; ".join(f"{m} {mods[m]['path']}" for m in
                                        ("xprop", "array_api_compat", "array_api_strict")
                                        if "path" in mods.get(m, {})),
        f"- wheels: {meta['wheels']}",
        "",
        "| step | exit | wall (s) | limit (s) | result | output | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        wall = f"{s.wall:.1f}" if s.wall is not None else "-"
        limit = f"{s.timeout:.0f}" if s.timeout is not None else "-"
        rc = "-" if s.rc is None else str(s.rc)
        lines.append(f"| {s.name} | {rc} ({s.status}) | {wall} | {limit} | "
                     f"{s.result.replace('|', '/')} | {s.log} | "
                     f"`{s.command().replace('|', '/')}` |")
    ratios = []
    for s in steps:
        path = meta["out"] / s.log
        if s.name.startswith("bench") and path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            keep = [x.rstrip() for x in text if x.startswith("== ") or "RATIO" in x
                    or x.lstrip().startswith(("SWEEP fastest", "fastest from"))]
            if keep:
                ratios += [f"{s.name} ({s.log}):", "", "```", *keep, "```", ""]
    if ratios:
        lines += ["", "## Benchmark ratios (> 1: xprop faster than the reference)", "",
                  *ratios]
    return "\n".join(lines).rstrip() + "\n"


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "git not available"
    if head.returncode != 0:
        return "not a git checkout"
    return f"commit {head.stdout.strip()}" + (" with uncommitted changes"
                                               if dirty.stdout.strip() else "")


def output_dir(arg: str | None, form: str, info: dict, today: str) -> Path:
    if arg is not None:  # checked in parse()
        return Path(arg).resolve()
    base = REPO / "docs" / "gpu-check" / (
        f"{today}-{slug(gpu_name(info))}" if form == "gpu" else f"{today}-cpu-only")
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


# --------------------------------------------------------------------------- main


def positive(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number > 0), got {text!r}"
                                         ) from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds (a number > 0), got {text!r}")
    return x


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line (``gpu_check: argument: expected ..., got ...``), exit status 2."""
        self.exit(2, f"gpu_check: {message.removeprefix('argument ')}\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = Parser(prog="scripts/gpu_check.sh",
                                 description=__doc__.splitlines()[0] + " "
                                 + __doc__.splitlines()[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--out", default=None,
                    help="output folder, new or empty (default docs/gpu-check/<UTC date>-<gpu>"
                         ", or <date>-cpu-only without a GPU)")
    ap.add_argument("--wheels", default=os.environ.get(WHEELS_ENV) or None,
                    help=f"folder of wheels to pip install --target a temp dir put on "
                         f"PYTHONPATH (default ${WHEELS_ENV})")
    ap.add_argument("--cpu", action="store_true", help="the CPU form, even where a GPU is")
    ap.add_argument("--quick", action="store_true",
                    help="CI's short CPU form (implies --cpu): tests on numpy, torch and "
                         "array-api-strict, report on numpy,torch, a short numpy/torch bench")
    ap.add_argument("--budget", type=positive, default=None,
                    help="seconds for the whole run (default: "
                         + ", ".join(f"{k} {v:.0f}" for k, v in BUDGET.items()) + ")")
    ap.add_argument("--jobs", type=count, default=None,
                    help="pytest-xdist workers for the tests (default: on a GPU, "
                         "min(8, CPUs/2) when pytest-xdist is installed; else 1, no xdist)")
    ap.add_argument("--dry-run", action="store_true",
                    help="probe the environment, print the plan and stop (no folder written)")
    args = ap.parse_args(argv)
    if args.wheels is not None and not Path(args.wheels).is_dir():
        given = any(a.startswith("--wheels") for a in (sys.argv[1:] if argv is None else argv))
        src = "--wheels" if given else f"${WHEELS_ENV}"
        ap.error(f"{src}: expected a folder of wheels, got {args.wheels!r}, which is not a "
                 "folder")
    out = None if args.out is None else Path(args.out)
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        ap.error(f"--out: expected a new or empty folder, got {args.out!r}, which "
                 + ("is not a folder" if not out.is_dir() else "is not empty"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        with tempfile.TemporaryDirectory(prefix="xprop-gpu-check-") as tmp:
            extra, wheels = [], "none (--wheels not given)"
            if args.wheels is not None:
                names = install_wheels(Path(args.wheels), Path(tmp), child_env([]))
                extra, wheels = [tmp], f"{', '.join(names)} from {args.wheels}, via " \
                                       "pip install --target (temp dir first on PYTHONPATH)"
            env = child_env(extra)
            return check(args, env, started, now, wheels)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"gpu_check: {e.code}", file=sys.stderr)
            return 2
        raise


def check(args: argparse.Namespace, env: dict[str, str], started: float,
          now: datetime.datetime, wheels: str) -> int:
    info = probe(env)
    missing = missing_modules(info)
    if missing:
        raise SystemExit(f"packages: expected {', '.join(REQUIRED)} importable, missing "
                         f"{'; '.join(missing)} (pass --wheels DIR or ${WHEELS_ENV}=DIR with "
                         "their wheels, or pip install them)")
    here, why = gpu_present(info)
    if args.quick or args.cpu:
        why = (("--quick runs the CPU form only" if args.quick else "--cpu given")
               + (f" ({gpu_name(info)} present)" if here else f"; {why}"))
        here = False
    form = "gpu" if here else ("cpu-quick" if args.quick else "cpu")
    jobs = args.jobs
    xdist = info["modules"].get("xdist", {}).get("version")
    if jobs is None:
        jobs = min(8, (info["cpus"] or 2) // 2) if form == "gpu" and xdist else 1
    elif jobs > 1 and not xdist:
        raise SystemExit(f"--jobs: expected 0 or 1 without pytest-xdist, got {jobs} "
                         f"(xdist: {info['modules']['xdist'].get('error')})")
    out = output_dir(args.out, form, info, f"{now:%Y-%m-%d}")
    budget = args.budget or BUDGET[form]
    if form == "gpu":
        print(f"GPU check on {gpu_line(info)}: writing {shown(out)}/")
    else:
        print(f"{NO_GPU}: {why}; running the {form} form on the CPU backends into "
              f"{shown(out)}/")
    steps = plan(form, info, out, jobs, xdist)
    if args.dry_run:
        left = budget - (time.monotonic() - started)
        for s in steps:
            print(f"  {s.name}: cap {s.cap:.0f} s, floor {s.floor:.0f} s: {s.command()}")
        print(f"dry run: nothing run; {left:.0f} s of the {budget:.0f} s budget left after "
              "the probe")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": f"{now:%Y-%m-%d}", "datetime": f"{now:%Y-%m-%d %H:%M} UTC", "why": why,
            "command": shlex.join(["scripts/gpu_check.sh", *sys.argv[1:]]), "budget": budget,
            "git": git_state(), "wheels": wheels, "out": out, "total": 0.0}

    def write_summary() -> None:
        meta["total"] = time.monotonic() - started
        text = summary(form, info, steps, meta)
        tmp = out / ".SUMMARY.md.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / "SUMMARY.md")

    try:
        for i, s in enumerate(steps):
            limit = step_timeout(steps, i, budget - (time.monotonic() - started))
            if limit < s.floor:
                s.status, s.result = "not run", f"budget left {limit:.0f} s < {s.floor:.0f} s"
                print(f"[not run] {s.name}: {s.result}")
                continue
            write_summary()
            run_step(s, limit, out, env)
            print(f"[{s.status}] {s.name}: exit {s.rc} in {s.wall:.1f} s (limit {limit:.0f} s)"
                  f": {s.result} -> {shown(out / s.log)}", flush=True)
            if s.status != "ok":
                print(tail(out / s.log), flush=True)
    finally:
        meta["finished"] = True
        write_summary()
    bad = [s for s in steps if s.status != "ok"]
    total = time.monotonic() - started
    tag = "" if form == "gpu" else f" ({NO_GPU}: CPU form)"
    if bad:
        print(f"gpu_check: {len(bad)} of {len(steps)} steps not passed "
              f"({', '.join(s.name for s in bad)}) in {total:.1f} s{tag}; summary "
              f"{shown(out / 'SUMMARY.md')}")
        return 1
    print(f"gpu_check: all {len(steps)} steps passed in {total:.1f} s{tag}; summary "
          f"{shown(out / 'SUMMARY.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
