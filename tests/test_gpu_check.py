"""scripts/gpu_check.py without a GPU: its arguments, the plan of the GPU and CPU forms, the
time limits, a step that fails or outlasts its limit, the summary's first lines and the
git-ignored CPU-only folder. CI runs the script itself (.ci/run, --quick)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
G = sys.modules["gpu_check"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(G)

MODULES = {m: {"version": "1.0", "path": f"/site/{m}"} for m in
           ("numpy", "array_api_compat", "array_api_strict", "pytest", "hypothesis", "xprop",
            "torch", "jax", "jaxlib", "cupy", "xdist")}
GPU_INFO = {
    "python": "3.12.3", "executable": "/opt/python3", "platform": "Linux", "cpus": 16,
    "modules": MODULES, "jax_devices": ["cuda:0"],
    "gpu": {"smi_gpus": [{"name": "NVIDIA H100 80GB HBM3", "driver": "580.159.04",
                          "memory": "81559 MiB"}], "driver_cuda": "13.0", "torch_cuda": True,
            "torch_cuda_version": "13.0", "torch_device": "NVIDIA H100 80GB HBM3",
            "cupy_usable": True, "cupy_reason": "ok", "jax_gpu": True},
}
CPU_INFO = {
    **GPU_INFO, "cpus": 2, "jax_devices": ["TFRT_CPU_0"],
    "modules": {k: v for k, v in MODULES.items() if k not in ("cupy", "xdist")},
    "gpu": {"smi_error": "not found", "torch_cuda": False, "cupy_usable": False,
            "cupy_reason": "CuPy is not installed (No module named 'cupy'); install it",
            "jax_gpu": False},
}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "gpu_check: --budget: expected seconds (a number > 0), got '0'"),
    (["--budget", "nan"], "gpu_check: --budget: expected seconds (a number > 0), got 'nan'"),
    (["--jobs", "two"], "gpu_check: --jobs: expected a whole number >= 0, got 'two'"),
    (["--wheels", "/no/such/folder"],
     "gpu_check: --wheels: expected a folder of wheels, got '/no/such/folder', which is not a "
     "folder"),
    (["--out", "README.md"],
     "gpu_check: --out: expected a new or empty folder, got 'README.md', which is not a folder"),
    (["--out", "tests"],
     "gpu_check: --out: expected a new or empty folder, got 'tests', which is not empty"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == "" and r.stderr == message + "\n"


def test_an_empty_wheel_folder_is_refused_before_anything_runs(tmp_path):
    r = run("--wheels", str(tmp_path), "--dry-run")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == (f"gpu_check: --wheels: expected a folder holding *.whl files, "
                                f"got {str(tmp_path)!r} with none")


def test_gpu_form_plan():
    steps = G.plan("gpu", GPU_INFO, Path("/o"), 8, "3.8.0")
    names = [s.name for s in steps]
    assert names == ["pytest", "parity report", "bench cupy", "bench torch:cuda",
                     "bench jax:gpu"]
    pytest_step = steps[0]
    assert pytest_step.env == {"XPROP_REQUIRE_CUDA": "1"}
    assert pytest_step.argv[1:3] == ["-m", "pytest"]
    assert pytest_step.argv[-2:] == ["-m", "cuda or parity"]
    assert ["-n", "8", "--dist", "worksteal"] == pytest_step.argv[-6:-2]
    assert pytest_step.command().startswith("XPROP_REQUIRE_CUDA=1 python -m pytest ")
    assert "--backends numpy,torch:cuda,cupy,jax:gpu" in steps[1].command()
    for s, b in zip(steps[2:], ["cupy", "torch:cuda", "jax:gpu"]):
        assert s.argv[1:5] == ["scripts/bench_step.py", "--backend", b, "--sweep-backends"]
    logs = [s.log for s in steps]
    assert len(set(logs)) == len(logs) and len(logs) + 2 <= 7  # + SUMMARY.md, parity.md
    # the floors of all steps fit the budget, so every step gets a chance
    assert sum(s.floor for s in steps) < G.BUDGET["gpu"] <= 8 * 60 - 30


def test_gpu_form_without_jax_on_the_gpu_nor_xdist():
    info = {**GPU_INFO, "gpu": {**GPU_INFO["gpu"], "jax_gpu": False}}
    steps = G.plan("gpu", info, Path("/o"), 1, None)
    assert [s.name for s in steps][-1] == "bench torch:cuda"
    assert "-n" not in steps[0].argv
    assert "--backends numpy,torch:cuda,cupy " in steps[1].command()


def test_cpu_forms_plan():
    steps = G.plan("cpu", CPU_INFO, Path("/o"), 1, None)
    assert steps[0].env == {}
    assert steps[0].argv[-2:] == ["-m", "(cuda or parity) and not slow"]
    assert [s.name for s in steps[2:]] == ["bench numpy", "bench torch", "bench jax:cpu"]
    assert "--backends numpy,torch " in steps[1].command()
    quick = G.plan("cpu-quick", CPU_INFO, Path("/o"), 1, None)
    assert quick[0].argv[-2:] == ["-k", "not jax and not device1 and not no_float64"]
    assert [s.name for s in quick[2:]] == ["bench numpy", "bench torch"]
    no_torch = {**CPU_INFO, "modules": {k: v for k, v in CPU_INFO["modules"].items()
                                        if k not in ("torch", "jax")}}
    bare = G.plan("cpu", no_torch, Path("/o"), 1, None)
    assert [s.name for s in bare[2:]] == ["bench numpy"]
    assert "--backends numpy " in bare[1].command()
    for form in ("cpu", "cpu-quick"):
        assert sum(s.floor for s in G.plan(form, CPU_INFO, Path("/o"), 1, None)) \
            < G.BUDGET[form] <= 5 * 60 - 15


def test_gpu_detection_and_names():
    assert G.gpu_present(GPU_INFO) == (True, "")
    here, why = G.gpu_present(CPU_INFO)
    assert not here
    assert why == ("no NVIDIA GPU here (nvidia-smi: not found; torch: no CUDA device; "
                   "CuPy is not installed (No module named 'cupy'))")
    assert G.slug(G.gpu_name(GPU_INFO)) == "h100-80gb-hbm3"
    assert G.gpu_line(GPU_INFO) == ("NVIDIA H100 80GB HBM3, driver 580.159.04, CUDA 13.0 "
                                    "(driver), 81559 MiB")
    assert G.missing_modules(GPU_INFO) == []
    broken = {**CPU_INFO, "modules": {**MODULES, "array_api_strict": {"error": "gone"}}}
    assert G.missing_modules(broken) == ["array_api_strict (gone)"]


def test_each_step_leaves_the_later_ones_their_floor():
    steps = G.plan("gpu", GPU_INFO, Path("/o"), 1, None)
    floors_after = sum(s.floor for s in steps[1:])
    assert G.step_timeout(steps, 0, 1000) == steps[0].cap
    assert G.step_timeout(steps, 0, 200) == 200 - floors_after
    assert G.step_timeout(steps, len(steps) - 1, 5) == 5


def test_a_failing_and_a_hanging_step_are_reported_and_stopped(tmp_path):
    env = G.child_env([])
    fail = G.Step("fail", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                  "fail.log", 10, 1)
    G.run_step(fail, 10, tmp_path, env)
    assert (fail.rc, fail.status) == (3, "FAILED")
    assert "boom" in (tmp_path / "fail.log").read_text()
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); print('child', p.pid, flush=True); "
            "time.sleep(60)")
    hang = G.Step("hang", [sys.executable, "-c", code], "hang.log", 10, 1)
    G.run_step(hang, 1.5, tmp_path, env)
    assert (hang.rc, hang.status) == (124, "TIMEOUT after 2 s")
    assert hang.wall < 10
    pid = int((tmp_path / "hang.log").read_text().split("child ")[1].split()[0])
    status = Path(f"/proc/{pid}/status")
    for _ in range(50):  # its process group went too (gone, or a zombie nobody reaped yet)
        if not status.exists() or "State:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the step's child {pid} still runs")


def test_summary_first_lines(tmp_path):
    meta = {"date": "2026-12-06", "datetime": "2026-12-06 12:00 UTC", "why": "no GPU",
            "command": "scripts/gpu_check.sh", "budget": 450, "git": "commit abc",
            "wheels": "none", "out": tmp_path, "total": 1.0, "finished": True}
    steps = G.plan("gpu", GPU_INFO, tmp_path, 8, "3.8.0")
    for s in steps:
        s.status, s.rc, s.wall, s.timeout = "ok", 0, 1.0, 10.0
    steps[1].status, steps[1].rc = "FAILED", 1
    text = G.summary("gpu", GPU_INFO, steps, meta)
    assert text.startswith("# xprop GPU check: NVIDIA H100 80GB HBM3, 2026-12-06\n")
    assert "- verdict: 4/5 steps passed; not passed: parity report (FAILED)" in text
    assert "driver 580.159.04, CUDA 13.0 (driver)" in text
    assert "| parity report | 1 (FAILED) | 1.0 | 10 |" in text
    cpu = G.summary("cpu", CPU_INFO, G.plan("cpu", CPU_INFO, tmp_path, 1, None), meta)
    first, _, third = cpu.splitlines()[:3]
    assert first.startswith("# CPU ONLY, NO GPU FIGURE PRODUCED")
    assert third.startswith("NO GPU FIGURE PRODUCED: no GPU.")
    assert "- GPU: none: no GPU" in cpu


def test_default_folders_and_the_cpu_only_ones_are_ignored_by_git():
    gpu = G.output_dir(None, "gpu", GPU_INFO, "2026-12-06")
    assert gpu.parent == ROOT / "docs" / "gpu-check"
    assert gpu.name.startswith("2026-12-06-h100-80gb-hbm3")
    cpu = G.output_dir(None, "cpu-quick", CPU_INFO, "2026-12-06")
    assert cpu.name.startswith("2026-12-06-cpu-only")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for folder in (cpu, cpu.with_name(cpu.name + "-2")):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(folder / "SUMMARY.md")],
                                 cwd=ROOT)
        assert ignored.returncode == 0, folder
    kept = subprocess.run(["git", "check-ignore", "-q", str(gpu / "SUMMARY.md")], cwd=ROOT)
    assert kept.returncode == 1


def test_dry_run_says_first_that_no_gpu_figure_is_produced():
    r = run("--dry-run", "--cpu")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("NO GPU FIGURE PRODUCED: --cpu given")
    assert lines[-1].startswith("dry run: nothing run")
    assert any("parity_report.py --quick --backends numpy" in x for x in lines)
