"""bench/eo1_3b_smoke.py and bench/gpu_check.py at the tiny shape on CPU (issue #21 part 4).

Both scripts run as subprocesses, started together by one module fixture so their start-up
(torch, transformers, the Qwen tokenizer) overlaps; gpu_check's budget logic is checked
in-process (a zero budget, a fake clock, the alarm that stops a running variant).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import gpu_check  # noqa: E402 (bench/ is not a package)

pytestmark = pytest.mark.slow
TIMEOUT = 240

SMOKE_COLUMNS = ["step", "dtype", "time (s)", "peak RSS (GiB)", "peak anon RSS (GiB)", "result"]
GPU_COLUMNS = ["variant", "first call (s)", "median (ms)", "peak memory (GiB)", "notes"]


def table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of the first markdown table in ``text``."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) >= 2, text
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    header, body = cells[0], cells[2:]
    assert set(cells[1][0]) <= {"-", ":"}
    return header, [dict(zip(header, row, strict=True)) for row in body]


def finite(cell: str) -> float:
    value = float(cell)
    assert math.isfinite(value) and value >= 0, cell
    return value


@dataclass
class Runs:
    """The two script runs (started at once) and the smoke run's work directory."""

    procs: dict[str, subprocess.Popen[str]]
    workdir: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    work = tmp_path_factory.mktemp("smoke")
    py = sys.executable
    cmds = {
        "smoke": [
            *(py, "bench/eo1_3b_smoke.py", "--shape", "tiny", "--threads", "1"),
            *("--workdir", str(work), "--timeout", str(TIMEOUT)),
        ],
        "gpu": [
            *(py, "bench/gpu_check.py", "--device", "cpu", "--shape", "tiny", "--threads", "1"),
            *("--repeats", "2", "--train-steps", "2", "--compile-backend", "eager"),
        ],
    }
    procs = {
        k: subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k, c in cmds.items()
    }
    yield Runs(procs, work)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"timed out after {TIMEOUT} s:\n{out}\n{err[-3000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-3000:]}"
    return out


def test_smoke_tiny_reports_every_step(runs: Runs) -> None:
    out = finish(runs.procs["smoke"])
    header, rows = table(out)
    assert header == SMOKE_COLUMNS
    steps = [(r["step"], r["dtype"]) for r in rows]
    assert steps == [
        ("write release (random init)", "bf16 + fp32 heads"),
        ("import_eo1", "fp32"),
        ("load_model + .to(bfloat16)", "bf16"),
        ("1 chunk (sample_actions)", "bf16"),
        ("load_model", "fp32"),
        ("1 chunk (sample_actions)", "fp32"),
    ]
    for r in rows:
        finite(r["time (s)"])
        assert finite(r["peak RSS (GiB)"]) > 0 and finite(r["peak anon RSS (GiB)"]) > 0
    shards = re.search(r"(\d+) shards", rows[0]["result"])
    assert shards and int(shards.group(1)) >= 2, rows[0]["result"]  # sharded + index
    assert rows[1]["result"].startswith("ok:")
    assert "actions 1x50x20 finite, weights bfloat16" in rows[3]["result"]
    assert "actions 1x50x20 finite, weights float32" in rows[5]["result"]
    assert "torch " in out and "CPU " in out and "commit " in out and "M parameters" in out
    work = runs.workdir
    assert not (work / "release").exists() and not (work / "imported").exists()  # no --keep


def test_gpu_check_tiny_cpu_table(runs: Runs) -> None:
    out = finish(runs.procs["gpu"])
    assert out.startswith("### CPU ")
    header, rows = table(out)
    assert header == GPU_COLUMNS
    by = {r["variant"]: r for r in rows}
    names = [name for name, _ in gpu_check.Check(None, None).variants()]  # type: ignore[arg-type]
    assert list(by) == names
    finite(by["setup (random init on device)"]["first call (s)"])
    for name in (
        "train step: bf16 autocast, fp32 weights + AdamW",
        "train step: bf16 weights + AdamW",
        "chunk: eager",
        "chunk: sample_actions eager",
        "chunk: torch.compile",
    ):
        finite(by[name]["first call (s)"])
        assert finite(by[name]["median (ms)"]) > 0, name
        assert by[name]["peak memory (GiB)"] == "n/a (cpu)"
        assert "error" not in by[name]["notes"] and "NOT FINITE" not in by[name]["notes"]
    for name in ("chunk: CUDA graph", "chunk: torch.compile reduce-overhead denoise"):
        assert by[name]["notes"] == "n/a (cpu)" and by[name]["median (ms)"] == ""
    assert "max abs diff to sample_normalized 0.00e+00" in by["chunk: eager"]["notes"]


def test_gpu_check_zero_budget_skips_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check.main(["--device", "cpu", "--shape", "tiny", "--budget", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### CPU ")
    header, rows = table(out)
    assert header == GPU_COLUMNS and len(rows) == 8
    assert all(r["notes"] == "skipped (budget)" and r["median (ms)"] == "" for r in rows)


def test_run_variants_budget_errors_and_alarm() -> None:
    now = [0.0]
    budget = gpu_check.Budget(10.0, clock=lambda: now[0])

    def ok() -> gpu_check.Row:
        now[0] += 4.0
        return gpu_check.Row("", 1.0, 2.0, None, "fine")

    def broken() -> gpu_check.Row:
        raise RuntimeError("CUDA out of memory\ntried to allocate")

    def na() -> gpu_check.Row:
        raise gpu_check.NotApplicableError("n/a (cpu)")

    rows = gpu_check.run_variants(
        [("a", ok), ("b", broken), ("c", na), ("d", ok), ("e", ok), ("f", ok)], budget
    )
    assert [r.variant for r in rows] == list("abcdef")
    assert rows[0].notes == "fine" and rows[0].median_ms == 2.0
    assert rows[1].notes == "error: RuntimeError: CUDA out of memory tried to allocate"
    assert rows[2].notes == "n/a (cpu)"
    assert rows[3].notes == "fine"  # 8 s used after it: 2 s left for e
    assert rows[4].notes == "fine"
    assert rows[5].notes == "skipped (budget)"

    def slow() -> gpu_check.Row:
        time.sleep(5)
        return gpu_check.Row("", notes="finished")

    t0 = time.perf_counter()
    rows = gpu_check.run_variants([("slow", slow), ("next", ok)], gpu_check.Budget(0.2))
    assert time.perf_counter() - t0 < 3
    assert rows[0].notes.startswith("stopped (budget) after")
    assert rows[1].notes == "skipped (budget)"
