"""The experiment set in parallel: a group's runs by concurrent workers, locally or on SLURM.

:func:`run_group` runs the experiments of a group (e.g. App. E/G's ``app-e``, about twenty
tracked runs under ``paper``) or a list of names, each exactly as ``python -m eos run NAME``
would (:func:`eos.experiments.run`: cached, resumable), by ``jobs`` concurrent workers:

``executor="local"``
    worker processes on this machine, one per device group: the accelerators of the node
    (``nvidia-smi -L``, or ``CUDA_VISIBLE_DEVICES``) are split into ``jobs`` groups of
    ``devices_per_job`` and each worker sees its own group (``CUDA_VISIBLE_DEVICES``), over which
    its run shards its examples (:mod:`eos.sharding`). Without GPUs the workers share the CPU.
``executor="slurm"``
    one SLURM job per experiment through ``submitit`` (``pip install "eos[cluster]"``), with
    ``partition``, ``gpus_per_job`` and ``time_min``; at most ``jobs`` run at once (a SLURM job
    array's ``%`` limit).
``executor="submitit-local"``
    the same submission path with submitit's local executor (processes on this machine): how
    the tests exercise the SLURM path on a CPU.

All workers share one results folder (``EOS_RESULTS_DIR``). Runs that share a phase (e.g. the
phase 1 of ``fig1-mlp`` and ``mlp-mse-cifar10-lr0.02``) compute it once: the first worker
holds the folder's lock (:func:`eos.results.folder_lock`), the others wait and reuse it. One
progress bar follows the set, and :func:`summary_table` prints one row per run (name, device,
wall time, stop reason, status). A worker's output goes to a log file per run under
``<results>/logs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue
from typing import Any

from eos import results as _results
from eos.progress import progress_bar
from eos.validate import positive_int

__all__ = ["EXECUTORS", "RunSummary", "device_groups", "run_group", "run_one", "summary_table"]

EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class RunSummary:
    """One run of a set: its ``name``, the ``device`` it ran on, ``wall_s`` seconds, the
    dynamics' ``stop_reason``, and ``status`` (``"done"``, or ``"failed: ..."`` with the log)."""

    name: str
    device: str
    wall_s: float
    stop_reason: str
    status: str


def _devices_text(provenance: dict[str, Any]) -> str:
    used = provenance.get("devices_used") or {}
    if not used:
        return str(provenance.get("device", "?"))
    return f"{used.get('platform')}:{used.get('kind')} x{used.get('count')}"


def run_one(name: str, profile: str | None, overrides: dict[str, Any]) -> RunSummary:
    """Run ``name`` in this process (what a worker or a SLURM job executes)."""
    from eos import experiments as E

    t0 = time.perf_counter()
    result = E.run(name, profile=profile, progress=False, **overrides)
    return RunSummary(
        name,
        _devices_text(result.provenance),
        time.perf_counter() - t0,
        str(result.meta.get("stop_reason", "")),
        "done",
    )


def _gpu_ids() -> list[str]:
    """The node's GPUs (without initialising JAX here): ``CUDA_VISIBLE_DEVICES``, else
    ``nvidia-smi -L``, else none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def device_groups(jobs: int, devices_per_job: int | None = None) -> list[str | None]:
    """``jobs`` disjoint groups of GPU ids (``"0,1"``), ``devices_per_job`` each (default: the
    GPUs split evenly); ``None`` entries (no GPUs: the workers share the CPU)."""
    jobs = positive_int(jobs, "jobs")
    gpus = _gpu_ids()
    if not gpus:
        return [None] * jobs
    per = (
        len(gpus) // jobs
        if devices_per_job is None
        else positive_int(devices_per_job, "devices_per_job")
    )
    if per < 1 or per * jobs > len(gpus):
        raise ValueError(
            f"jobs={jobs} x devices_per_job={per} needs {jobs * max(per, 1)} GPUs; this node has "
            f"{len(gpus)} ({','.join(gpus)})"
        )
    return [",".join(gpus[i * per : (i + 1) * per]) for i in range(jobs)]


def _log_folder() -> Path:
    folder = _results.results_root() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _command(name: str, profile: str | None, overrides: dict[str, Any]) -> list[str]:
    cmd = [sys.executable, "-m", "eos", "run", name, "--no-progress"]
    if profile is not None:
        cmd += ["--profile", profile]
    for key, value in overrides.items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        cmd += ["--override", f"{key}={text}"]
    return cmd


def _run_in_process(name, profile, overrides, slots: Queue, log: Path) -> RunSummary:
    """One worker: take a device group, run ``name`` in a fresh process, give the group back."""
    from eos import experiments as E

    group = slots.get()
    env = dict(os.environ)
    if group is not None:
        env["CUDA_VISIBLE_DEVICES"] = group
    t0 = time.perf_counter()
    try:
        with open(log, "w") as out:
            proc = subprocess.run(
                _command(name, profile, overrides), env=env, stdout=out, stderr=subprocess.STDOUT
            )
    finally:
        slots.put(group)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return RunSummary(name, group or "cpu", wall, "", f"failed (exit {proc.returncode}): {log}")
    result = E.load(name, profile=profile, **overrides)
    device = _devices_text(result.provenance) + ("" if group is None else f" [{group}]")
    return RunSummary(name, device, wall, str(result.meta.get("stop_reason", "")), "done")


def _local(names, profile, overrides, jobs, devices_per_job, bar) -> list[RunSummary]:
    slots: Queue = Queue()
    for group in device_groups(jobs, devices_per_job):
        slots.put(group)
    logs, lock = _log_folder(), threading.Lock()

    def work(name: str) -> RunSummary:
        summary = _run_in_process(name, profile, overrides, slots, logs / f"{name}.log")
        with lock:
            bar.update(1)
            bar.set_postfix_str(f"{name}: {summary.status.split(':')[0]}")
        return summary

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(work, names))


def _submitit(names, profile, overrides, jobs, executor, slurm, bar) -> list[RunSummary]:
    try:
        import submitit
    except ImportError:
        raise ValueError(
            f"executor={executor!r} needs submitit: pip install 'eos[cluster]'"
        ) from None
    folder = _log_folder() / "submitit"
    if executor == "slurm":
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        ex.update_parameters(
            slurm_partition=slurm.get("partition"),
            gpus_per_node=slurm.get("gpus_per_job", 1),
            timeout_min=slurm.get("time_min", 240),
            slurm_array_parallelism=jobs,
            name="eos",
        )
    else:
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=slurm.get("time_min", 240))
    submitted = [ex.submit(run_one, name, profile, overrides) for name in names]
    return _wait(names, submitted, bar)


def _wait(names, submitted, bar) -> list[RunSummary]:
    """Poll the submitted jobs, one bar step per finished job; a failed job is a failed row."""
    out: dict[int, RunSummary] = {}
    while len(out) < len(submitted):
        for i, job in enumerate(submitted):
            if i in out or not job.done():
                continue
            try:
                out[i] = job.result()
            except Exception as exc:  # the job's error, reported in the table
                first = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
                out[i] = RunSummary(
                    names[i], "?", 0.0, "", f"failed: {first[0]} (job {job.job_id})"
                )
            bar.update(1)
            bar.set_postfix_str(f"{names[i]}: {out[i].status.split(':')[0]}")
        time.sleep(0.5)
    return [out[i] for i in range(len(submitted))]


def run_group(
    group: str | None = None,
    *,
    names: Sequence[str] | None = None,
    profile: str | None = None,
    jobs: int = 1,
    executor: str = "local",
    devices_per_job: int | None = None,
    slurm: dict[str, Any] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> list[RunSummary]:
    """Run the experiments of ``group`` that ``profile`` selects (or ``names``) by ``jobs``
    concurrent workers; one :class:`RunSummary` per run, in the group's order. ``executor``:
    ``"local"``, ``"slurm"`` or ``"submitit-local"`` (module docstring); ``slurm``:
    ``partition``, ``gpus_per_job``, ``time_min``; ``overrides``: configuration fields applied
    to every run."""
    from eos import experiments as E

    if (group is None) == (names is None):
        raise ValueError("give a group or a list of names (not both)")
    names = list(E.selected(group, profile) if names is None else names)
    for name in names:
        E.get_config(name, profile=profile, **overrides)  # unknown names fail before any work
    jobs = positive_int(jobs, "jobs")
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r}; valid executors are {', '.join(EXECUTORS)}")
    bar = progress_bar(total=len(names), desc=group or "runs", unit="run", disable=not progress)
    try:
        if executor == "local":
            return _local(names, profile, overrides, jobs, devices_per_job, bar)
        return _submitit(names, profile, overrides, jobs, executor, slurm or {}, bar)
    finally:
        bar.close()


def summary_table(rows: Sequence[RunSummary]) -> str:
    """The set's summary: one line per run (name, device, wall time, stop reason, status)."""
    header = {"name": "name", "device": "device", "wall_s": "wall", "stop_reason": "stop",
              "status": "status"}  # fmt: skip
    lines = [dict(asdict(r), wall_s=f"{r.wall_s:.1f} s") for r in rows]
    widths = {k: max(len(str(x[k])) for x in [header, *lines]) for k in header}
    fmt = "  ".join(f"{{{k}:{widths[k]}}}" for k in header)
    out = [fmt.format(**header), fmt.format(**{k: "-" * widths[k] for k in header})]
    out += [fmt.format(**{k: str(v) for k, v in x.items()}) for x in lines]
    total = sum(r.wall_s for r in rows)
    failed = sum(not r.status.startswith("done") for r in rows)
    out.append(f"{len(rows)} run(s), {failed} failed, {total:.1f} s of run time in all")
    return "\n".join(out)
