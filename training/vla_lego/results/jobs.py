"""Evaluation jobs of the results run, importable by the worker processes (spawned workers
cannot see functions defined in ``__main__``)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from vla_lego.atomic import atomic_write_json


def _log(msg: str) -> None:
    print(f"[results] {msg}", flush=True)


def expert_job(task: str, preset: str, episodes: int, seed: int) -> dict[str, Any]:
    """The scripted expert on held-out seeds (no rendering: it reads the privileged state)."""
    from vla_lego.sim import LegoEnv, ScriptedExpert, SimConfig

    env = LegoEnv(SimConfig.from_preset(preset))
    expert = ScriptedExpert(env)
    failures: dict[str, int] = {}
    wins, times = 0, []
    for s in range(seed, seed + episodes):
        env.reset(task, s, render=False)
        expert.reset()
        done_at = None
        while not expert.finished and not env.done:
            env.step(expert.act(), render=False)
            if done_at is None and env.success():
                done_at = env.sim_time
        outcome = "success" if done_at is not None else env.outcome()
        if done_at is not None:
            wins += 1
            times.append(done_at)
        else:
            failures[outcome] = failures.get(outcome, 0) + 1
    env.close()
    return {
        "task": task,
        "preset": preset,
        "evaluator": "expert",
        "episodes": episodes,
        "successes": wins,
        "failures": failures,
        "mean_completion_time": sum(times) / len(times) if times else None,
        "seeds": [seed, seed + episodes],
    }


def direct_job(
    spec: str,
    task: str,
    preset: str,
    episodes: int,
    seed: int,
    decode_text: bool,
    out: str,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """One run x task x preset through the node's controller in-process (a worker process)."""
    from vla_lego.eval.sim import evaluate
    from vla_lego.eval.types import EvalConfig
    from vla_lego.runtime.build import node_values

    values = node_values(overrides={"decode_text": decode_text})
    ecfg = EvalConfig(
        task=task,
        episodes=episodes,
        seed=seed,
        preset=preset,
        gif_episodes=1,
        time_limit=time_limit,
    )
    summary = evaluate(spec, ecfg, out=out, values=values, progress=False)
    return {
        "task": task,
        "preset": preset,
        "episodes": summary["episodes"],
        "successes": summary["successes"],
        "failures": summary.get("failures", {}),
        "mean_completion_time": summary["mean_completion_time"],
        "subtask_accuracy": mean(
            [e.get("subtask_accuracy") for e in summary.get("per_episode", [])]
        ),
        "first_grasp_ok_rate": mean(
            [e.get("first_grasp_ok") for e in summary.get("per_episode", [])]
        ),
        "mean_inference_ms": summary.get("mean_inference_ms"),
        "seeds": [seed, seed + episodes],
        "report": out,
    }


def mean(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def job_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _init_worker() -> None:
    # One thread per worker: the workers already fill the cores.
    import torch

    torch.set_num_threads(1)


class Job(NamedTuple):
    """One cached unit of evaluation: ``fn(*args)`` merged with ``tags``, kept in ``folder``."""

    folder: Path
    key: str
    fn: Any
    args: tuple[Any, ...]
    tags: dict[str, Any]


def run_jobs(jobs: list[Job], workers: int) -> list[dict[str, Any]]:
    """Run the jobs, reusing every folder whose ``record.json`` has the same key; results in
    the order of ``jobs``. Each record is written as soon as its job ends (resumable)."""
    results: dict[int, dict[str, Any]] = {}
    todo = []
    for i, job in enumerate(jobs):
        rec = job.folder / "record.json"
        if rec.is_file():
            meta = json.loads(rec.read_text())
            if meta.get("key") == job.key:
                results[i] = meta["record"]
                continue
        todo.append(i)
    if todo:
        _log(f"  {len(todo)} job(s) to run, {len(jobs) - len(todo)} reused, {workers} worker(s)")

    def done(i: int, record: dict[str, Any]) -> None:
        job = jobs[i]
        r = {**record, **job.tags}
        job.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(job.folder / "record.json", {"key": job.key, "record": r})
        results[i] = r
        _log(
            f"  {r.get('run', r.get('evaluator'))} {r['task']}/{r['preset']}: "
            f"{r['successes']}/{r['episodes']} {r.get('failures', {})}"
        )

    if workers <= 1:
        for i in todo:
            done(i, jobs[i].fn(*jobs[i].args))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp.get_context("spawn"), _init_worker) as pool:
            futures = {i: pool.submit(jobs[i].fn, *jobs[i].args) for i in todo}
            for i, fut in futures.items():
                done(i, fut.result())
    return [results[i] for i in range(len(jobs))]


__all__ = ["Job", "direct_job", "expert_job", "job_key", "mean", "run_jobs"]
