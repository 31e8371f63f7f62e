"""Benchmark of :mod:`eos.curvature` on the paper's MLP (App. D.1-D.3).

The 3-layer width-200 swish MLP on the first ``n`` CIFAR-10 images with categorical MSE,
after ``steps`` gradient-descent steps at learning rate ``lr`` (float32), where the
sharpness approaches ``2/lr``. For float32 and float64 it times a gradient, an HVP,
``D3L(u, u)`` (the sharpness gradient, Lemma 2), and a cold and a warm-started
:func:`eos.curvature.sharpness` of :func:`eos.curvature.hessian` (warm: the iterate moved by
one GD step, started from the previous eigenvector) at relative tolerance ``tol``, with their
HVP counts and the true relative residual ``||H u - S u|| / S`` of the result.

Targets: an HVP costs at most 2 gradients; a warm-started sharpness update needs at most
15 HVPs and at most ``1.5 x HVPs x HVP-time`` in total.

Run: ``EOS_DATA_DIR=/work/shared/data .venv/bin/python -m benchmarks.curvature``
(``--n 1000 --steps 200 --repeats 5``; ``--rho`` also times the App. E operator norms).
Timings are wall-clock medians after a warm-up (compile) call, with
``block_until_ready``; run on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import eos  # noqa: F401  (enables float64)
from eos import curvature


def _time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall-clock seconds of ``fn()`` after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build_problem(n: int, steps: int, lr: float, seed: int):
    """``(f, p, objective)``: the loss ``f = objective.fn`` of flat parameters and the float32
    iterate ``p`` after ``steps`` GD steps from ``eos.objective.build('mlp', ...)``."""
    from eos import data, objective

    obj, p0 = objective.build("mlp", data.cifar10(n), "mse", seed=seed)
    f = obj.fn
    grad = jax.grad(f)

    @jax.jit
    def train(p):
        return jax.lax.fori_loop(0, steps, lambda _, q: q - lr * grad(q), p)

    p = jax.block_until_ready(train(p0))
    return f, p, obj


def bench_dtype(
    f, p32: jax.Array, dtype, lr: float, tol: float, repeats: int, rho: bool = False
) -> dict[str, Any]:
    p = p32.astype(dtype)
    grad_f = jax.grad(f)
    grad = jax.jit(grad_f)
    key = jax.random.PRNGKey(1)
    v = jax.random.normal(key, p.shape, dtype)
    v = v / jnp.linalg.norm(v)

    row: dict[str, Any] = {"dtype": jnp.dtype(dtype).name, "d": int(p.size)}
    row["grad_s"] = _time(lambda: grad(p), repeats)
    hvp = jax.jit(lambda p, v: jax.jvp(grad_f, (p,), (v,))[1])  # no input checks
    row["hvp_s"] = _time(lambda: hvp(p, v), repeats)

    # cold start (random vector), then warm start after one GD step
    H = curvature.hessian
    cold = lambda: curvature.sharpness(H(f, p), tol=tol, return_info=True, key=key)  # noqa: E731
    S, u, info = cold()
    row["cold_s"] = _time(cold, repeats)
    row["cold_hvps"] = int(info.matvecs)
    row["cold_converged"] = bool(info.converged)
    row["S"] = float(S)
    Hu = curvature.hvp(f, p, u)
    row["cold_true_res"] = float(jnp.linalg.norm(Hu - S * u) / jnp.abs(S))
    row["cold_est_res"] = float(info.residuals[0])

    row["d3_s"] = _time(lambda: curvature.sharpness_gradient(f, p, u), repeats)

    p1 = p - lr * grad(p)
    warm = lambda: curvature.sharpness(H(f, p1), u, tol=tol, return_info=True)  # noqa: E731
    S1, u1, info1 = warm()
    row["warm_s"] = _time(warm, repeats)
    row["warm_hvps"] = int(info1.matvecs)
    row["warm_converged"] = bool(info1.converged)
    row["S1"] = float(S1)
    Hu1 = curvature.hvp(f, p1, u1)
    row["warm_true_res"] = float(jnp.linalg.norm(Hu1 - S1 * u1) / jnp.abs(S1))
    row["warm_est_res"] = float(info1.residuals[0])
    if rho:  # operator norms of D3L and D4L (App. E): cold from 2 random starts, then warm
        for name, fn in (("rho3", curvature.rho3), ("rho4", curvature.rho4)):
            t0 = time.perf_counter()
            r, w, rinfo = fn(f, p, tol=1e-3, max_iters=50, num_starts=2, key=key)
            r = float(r)
            t1 = time.perf_counter()
            r1, _, rinfo1 = fn(f, p1, w, tol=1e-3, max_iters=50)
            float(r1)
            t2 = time.perf_counter()
            row[name] = (r, int(rinfo.evaluations), t1 - t0, int(rinfo1.evaluations), t2 - t1)
    return row


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nMLP (3 layers, width 200, swish) on {args.n} CIFAR-10 images, categorical MSE, "
        f"after {args.steps} GD steps at lr={args.lr} (2/lr = {2 / args.lr:g}); tol={args.tol:g}; "
        f"median of {args.repeats}; {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.2f}"
    )
    print(f"d = {rows[0]['d']:,} parameters\n")
    head = (
        f"{'dtype':8} {'grad ms':>8} {'HVP ms':>8} {'HVP/grad':>8} {'D3L ms':>8} {'D3L/HVP':>8} | "
        f"{'S':>9} {'cold HVPs':>9} {'cold ms':>8} {'ratio':>6} {'true res':>9} | "
        f"{'warm HVPs':>9} {'warm ms':>8} {'ratio':>6} {'true res':>9} {'est res':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        g, h = r["grad_s"] * 1e3, r["hvp_s"] * 1e3
        cold_ratio = r["cold_s"] * 1e3 / (r["cold_hvps"] * h)
        warm_ratio = r["warm_s"] * 1e3 / (r["warm_hvps"] * h)
        print(
            f"{r['dtype']:8} {g:8.1f} {h:8.1f} {h / g:8.2f} {r['d3_s'] * 1e3:8.1f} "
            f"{r['d3_s'] * 1e3 / h:8.2f} | {r['S']:9.4f} {r['cold_hvps']:9d} {r['cold_s'] * 1e3:8.1f} "
            f"{cold_ratio:6.2f} {r['cold_true_res']:9.1e} | {r['warm_hvps']:9d} {r['warm_s'] * 1e3:8.1f} "
            f"{warm_ratio:6.2f} {r['warm_true_res']:9.1e} {r['warm_est_res']:9.1e}"
        )
        if not (r["cold_converged"] and r["warm_converged"]):
            print(
                f"   ({r['dtype']}: cold converged={r['cold_converged']}, warm converged={r['warm_converged']})"
            )
    print(
        "\nratio = solve time / (HVPs x HVP time); targets: HVP/grad <= 2, warm HVPs <= 15, "
        "warm ratio <= 1.5"
    )
    for r in rows:
        for name in ("rho3", "rho4"):
            if name in r:
                val, ev, t, ev1, t1 = r[name]
                print(
                    f"  {r['dtype']}: {name} = {val:.4g} (tol 1e-3): cold {ev} contractions "
                    f"{t:.1f} s incl. compile, warm {ev1} contractions {t1:.1f} s"
                )
    for r in rows:
        ok = (
            r["hvp_s"] <= 2 * r["grad_s"]
            and r["warm_hvps"] <= 15
            and r["warm_s"] <= 1.5 * r["warm_hvps"] * r["hvp_s"]
        )
        print(f"  {r['dtype']}: {'all targets met' if ok else 'TARGET MISSED'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="CIFAR-10 training images")
    parser.add_argument("--steps", type=int, default=200, help="GD steps before measuring")
    parser.add_argument("--lr", type=float, default=0.02, help="learning rate eta")
    parser.add_argument("--tol", type=float, default=1e-6, help="relative residual tolerance")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--rho", action="store_true", help="also time rho3/rho4 (App. E)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.steps < 0 or args.repeats < 1:
        parser.error("--n and --repeats must be >= 1, --steps >= 0")

    t0 = time.perf_counter()
    f, p, _ = build_problem(args.n, args.steps, args.lr, args.seed)
    print(f"setup (data, {args.steps} GD steps): {time.perf_counter() - t0:.1f} s")
    rows = [
        bench_dtype(f, p, jnp.dtype(name), args.lr, args.tol, args.repeats, args.rho)
        for name in args.dtypes.split(",")
    ]
    report(rows, args)
    np.set_printoptions(precision=4)


if __name__ == "__main__":
    main()
