"""Scaling of one run over several devices (issue 24): the tracked step's kernels against the
number of devices the examples are sharded over (:mod:`eos.sharding`).

A tracked step (:func:`eos.dynamics.track`) is a sum of three kernels over the training set --
gradients, Hessian-vector products (the Lanczos solves) and third derivatives ``D^3 L[u, u]``
(Lemma 2's sharpness gradient) -- in counts the run records per step (``cost/*``), plus vector
work on the ``d`` parameters that every device repeats. For the paper's MLP and CNN
(``mlp-mse-cifar10-lr0.02`` and ``cnn-mse-cifar10-lr0.02`` under ``paper``: 5,000 images) this
script times each kernel in float64 on ``D = 1, 2, 4, ...`` devices (each ``D`` in a fresh
process with ``EOS_DEVICES=D``) and prints, per model and ``D``, the times, the speed-up
``T_1 / T_D`` and the parallel efficiency ``T_1 / (D T_D)``.

Communication model (where fewer devices exist than asked for). Sharding changes no arithmetic:
a kernel's per-example work divides by ``D`` and one all-reduce of its ``d``-vector result is
added, ``T_D = T_1 / D + 2 (D - 1) / D * 8 d / B`` (ring all-reduce of float64, bandwidth ``B``,
``--bandwidth`` GB/s; 150 by default, well below an NVLink node's), ignoring the replicated
vector work. ``--model-only`` prints this model from the one-device times.

On virtual CPU devices (``--virtual 4``: ``XLA_FLAGS=--xla_force_host_platform_device_count``)
the devices share the same cores, so the times show correctness and overhead only, never a
speed-up. Run on a quiet machine; ``--n`` shrinks the data set (default: the paper's 5,000).

    python benchmarks/scaling.py --devices 1 2 4 8          # a multi-GPU node
    python benchmarks/scaling.py --devices 1 --model-only   # one GPU: measured T_1, modelled T_D
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MODELS = {"mlp": "mlp-mse-cifar10-lr0.02", "cnn": "cnn-mse-cifar10-lr0.02"}


def _time(fn, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn())  # compile
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def measure(model: str, n: int | None, repeats: int) -> dict:
    """Kernel times (s) of ``model``'s paper objective on this process's devices."""
    import jax.numpy as jnp

    from eos import experiments as E
    from eos.experiments.workspace import build_objective

    overrides = {} if n is None else {"n": n}
    config = E.get_config(MODELS[model], profile="paper", **overrides)
    objective, p0 = build_objective(config)
    p = jnp.asarray(p0, jnp.float64)
    u = jnp.cos(jnp.arange(p.size, dtype=jnp.float64))
    u = u / jnp.linalg.norm(u)
    return {
        "model": model,
        "n": config.n,
        "d": int(p.size),
        "devices": 1 if objective.mesh is None else int(objective.mesh.devices.size),
        "grad": _time(lambda: objective.grad(p), repeats),
        "hvp": _time(lambda: objective.hvp(p, u), repeats),
        "d3": _time(lambda: objective.D(p, 3, u, u), repeats),
    }


def _in_subprocess(model: str, devices: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ, EOS_DEVICES=str(devices))
    if args.virtual:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.virtual}"
    cmd = [sys.executable, __file__, "--worker", model, "--repeats", str(args.repeats)]
    if args.n is not None:
        cmd += ["--n", str(args.n)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def modelled(t1: float, d: int, devices: int, bandwidth_gbs: float) -> float:
    """``T_D = T_1 / D + 2 (D - 1) / D * 8 d / B`` (module docstring)."""
    return t1 / devices + 2 * (devices - 1) / devices * 8 * d / (bandwidth_gbs * 1e9)


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    out = [
        "| model | devices | grad (ms) | HVP (ms) | D3 (ms) | sum (ms) | speed-up | efficiency | source |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        base = next(r for r in mine if r["devices"] == 1)
        t1 = base["grad"] + base["hvp"] + base["d3"]
        extra = [] if not args.model_only else [
            {"model": model, "devices": D, "modelled": True,
             **{k: modelled(base[k], base["d"], D, args.bandwidth) for k in ("grad", "hvp", "d3")}}
            for D in args.devices if D > 1
        ]  # fmt: skip
        for r in mine + extra:
            total = r["grad"] + r["hvp"] + r["d3"]
            src = f"model, B = {args.bandwidth:g} GB/s" if r.get("modelled") else "measured"
            out.append(
                f"| {model} | {r['devices']} | {1e3 * r['grad']:.2f} | {1e3 * r['hvp']:.2f} | "
                f"{1e3 * r['d3']:.2f} | {1e3 * total:.2f} | {t1 / total:.2f} | "
                f"{t1 / (r['devices'] * total):.2f} | {src} |"
            )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--n", type=int, help="training examples (default: the paper's 5,000)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--virtual", type=int, help="virtual CPU devices (correctness/overhead only)")
    p.add_argument("--model-only", action="store_true", help="measure D=1, model the others")
    p.add_argument("--bandwidth", type=float, default=150.0, help="all-reduce GB/s for the model")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        import eos  # noqa: F401  (float64)

        print(json.dumps(measure(args.worker, args.n, args.repeats)))
        return
    counts = [1] if args.model_only else sorted(set(args.devices) | {1})
    rows = [_in_subprocess(m, D, args) for m in args.models for D in counts]
    print(_table(rows, args))


if __name__ == "__main__":
    main()
