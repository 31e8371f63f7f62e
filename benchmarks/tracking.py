"""Speed of eos.dynamics.track: seconds per tracked step, by component and HVP count.

Setting (the brief's reference): the paper's MLP (656,810 parameters) on the first 1,000
CIFAR-10 training images, categorical MSE, eta = 0.02, tracked in float64 from the first
unstable GD iterate for a full 100-step run (which crosses one self-stabilization cycle, where
the point eigen-solves are hardest). Prints

1. unit costs on this machine (loss, gradient, HVP, fused and vmapped variants, the third
   derivative grad^3 L(u, u)), to read the rest in HVP-equivalents;
2. per-component seconds, calls and HVP/gradient counts per tracked step of the optimised
   tracker with its defaults, once with the issue's outputs (``generalized=False``: GD,
   predicted dynamics, theta-dagger, Theorem 1, gradient flow, lambda_2 every 10 steps, App. E
   and F diagnostics every 50) and once with App. F's generalized dynamics as well
   (``generalized=True``), and of a *straightforward* configuration (every eigen-solve to a
   fixed tolerance of 1e-10, the paper's three fixed projection sub-steps each with a fresh
   eigen-solve and third derivative, RK4 flow with h S <= 1/2, every diagnostic at every step);
3. the wall-clock seconds per step without per-component synchronisation (start-up projection
   included), and how far the optimised outputs are from the straightforward ones;
4. all of the optimised runs twice: in the row-space coordinates of :mod:`eos.reduction`
   (242,410 parameters; what the experiments use for this setting) and in the full ones
   (656,810), from the same instability point, with the largest difference between their
   outputs. The straightforward baseline runs in the full coordinates.

Usage: ``python benchmarks/tracking.py [--steps 100] [--baseline-steps 4] [--n 1000]
[--save PATH]`` (run from the repository root, or with it on ``PYTHONPATH`` when eos is not
installed). ``--save`` writes every recorded array of the four optimised runs to one ``.npz``
(keys ``<coordinates>|generalized=<bool>|<array key>``), which ``benchmarks/compare_outputs.py``
compares bit for bit with another such file (e.g. before and after a change to the tracker).
Needs EOS_DATA_DIR (CIFAR-10). The instability point is cached under ``_build/bench-cache``.
The machine is shared: run when idle and report the load average printed at the top.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import eos  # noqa: F401  (float64)
from eos import data, reduction
from eos import dynamics as dyn
from eos.dynamics import _ops
from eos.objective import build

ROOT = Path(__file__).resolve().parents[1]


def timeit(fn, *args, repeat: int = 9) -> float:
    """Best of ``repeat`` runs (the minimum is the least disturbed by other processes)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def instability_point(obj, p0, lr: float, n: int) -> tuple[jax.Array, jax.Array]:
    cache = ROOT / "_build" / "bench-cache" / f"mlp_cifar{n}_lr{lr:g}.npz"
    if cache.exists():
        z = np.load(cache)
        return jnp.asarray(z["params"], jnp.float64), jnp.asarray(z["eigvec"], jnp.float64)
    res = dyn.to_instability(obj, p0, lr=lr, max_steps=50_000, progress=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, params=res.params, eigvec=res.eigvec, step=res.step)
    print(f"instability at GD step {res.step} (S = {res.sharpness:.4f})")
    return jnp.asarray(res.params, jnp.float64), jnp.asarray(res.eigvec, jnp.float64)


def unit_costs(obj, p) -> dict[str, float]:
    v = jax.random.normal(jax.random.PRNGKey(1), p.shape, p.dtype)
    V4 = jax.random.normal(jax.random.PRNGKey(2), (p.shape[0], 4), p.dtype)

    P4 = jnp.stack([p, p + 1e-3 * v, p - 1e-3 * v, p + 2e-3 * v])
    V4r = V4.T
    batched = jax.jit(jax.vmap(lambda q, w: _ops.value_grad_hvp(obj, q, w)))
    return {
        "loss": timeit(jax.jit(obj.value), p),
        "gradient": timeit(jax.jit(obj.grad), p),
        "hvp": timeit(jax.jit(obj.hvp), p, v),
        "loss + gradient + hvp (one jvp)": timeit(
            jax.jit(lambda q, w: _ops.value_grad_hvp(obj, q, w)), p, v
        ),
        "4 vmapped hvps at one point": timeit(jax.jit(obj.hvp), p, V4),
        "4 x (loss + gradient + hvp) at 4 points, vmapped": timeit(batched, P4, V4r),
        "grad^3 L(u, u)": timeit(jax.jit(lambda p, u: obj.D(p, 3, u, u)), p, v),
    }


STRAIGHTFORWARD = dyn.TrackSettings.create(
    eig_tol=1e-10, point_tol=1e-10, proj_tol=1e-10, substeps=3, adaptive=False, predictor=False,
    fresh_direction=True, flow_method="rk4", diag_every=1, lambda2_every=1, accuracy_every=1,
)  # fmt: skip
OPTIMISED = dyn.TrackSettings.create(diag_every=50, lambda2_every=10, accuracy_every=10)

COMPONENTS = {
    "points": "L, grad L, S at GD, predicted, generalized, flow (one call)",
    "line": "generalized: L, F', F'' on the line",
    "flow": "flow: integrate one interval",
    "constrained": "theta-dagger: projection + grad S",
    "hvps_dagger": "HVPs at theta-dagger (v, v_gen, beta followers)",
    "records": "per-step scalars",
    "update": "GD step, predicted updates",
    "lambda2": "lambda_2 (every lambda2_every)",
    "accuracy": "accuracy (every accuracy_every)",
    "assumptions": "App. E quantities (every diag_every)",
    "quadratic": "App. F line profile (every diag_every)",
}


def run(obj, th0, u0, lr, steps, settings, label, generalized, costs=None):
    settings = settings.replace(generalized=generalized)
    kw = dict(lr=lr, steps=steps, settings=settings, progress=False, u0=u0)
    dyn.track(obj, th0, **dict(kw, steps=1), timing=False)  # compile
    t0 = time.perf_counter()
    plain = dyn.track(obj, th0, **kw)
    wall = time.perf_counter() - t0
    timed = dyn.track(obj, th0, **kw, timing=True)
    n = timed.steps_done + 1
    secs, calls = timed.meta["timing_seconds"], timed.meta["timing_calls"]
    print(f"\n### {label}: {steps} steps, {wall / n:.3f} s per step (wall clock, no syncs)\n")
    print("| component | s / step | calls / step | ms / call |")
    print("|---|---:|---:|---:|")
    total = 0.0
    for k, desc in COMPONENTS.items():
        if k in secs:
            total += secs[k] / n
            print(
                f"| {desc} | {secs[k] / n:.3f} | {calls[k] / n:.2f} | {1e3 * secs[k] / calls[k]:.0f} |"
            )
    print(f"| **total (synchronised)** | **{total:.3f}** | | |")
    a = timed.arrays
    cost = {k[5:]: float(np.mean(a[k][1:])) for k in a if k.startswith("cost/")}
    print(
        "\nHVPs / gradients per step (mean over steps >= 1): "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cost.items()))
    )
    print(f"projection sub-steps per step: {np.mean(a['constrained/substeps'][1:]):.2f}")
    if costs is not None:
        work_model(a, costs, secs, n, generalized)
    return plain, wall / n, total


def work_model(a, costs, secs, n, generalized) -> None:
    """The counted work of a step priced at the unit costs, against the same outputs with ideal
    warm starts (every eigen-solve converged at its first, fused, product; one projection
    evaluation; one flow sub-step): how much of the time is work, and how low the work can go."""
    mean = {k[5:]: float(np.mean(a[k][1:])) for k in a if k.startswith("cost/")}
    hvp, grad, d3 = costs["hvp"], costs["gradient"], costs["grad^3 L(u, u)"]
    fused = costs["loss + gradient + hvp (one jvp)"]
    firsts = (3 + int(generalized)) + float(np.mean(a["constrained/substeps"][1:]))
    lanczos = sum(v for k, v in mean.items() if k.startswith("eig_"))
    sparse = sum(secs.get(k, 0.0) for k in ("lambda2", "accuracy", "assumptions", "quadratic")) / n
    line = secs.get("line", 0.0) / n
    rows = {
        "eigen-solves (first products fused with L, grad L)": (
            lanczos * hvp + firsts * (fused - hvp), firsts * fused),
        "HVPs at theta-dagger (predicted updates, beta followers)": (
            mean["hvps_dagger"] * hvp, mean["hvps_dagger"] * hvp),
        "grad S = D3 L(u, u)": (mean["third_derivatives"] * d3, d3),
        "gradient-flow stages": (mean["flow_gradients"] * grad, 3 * grad),
        "lambda_2, accuracy, App. E and F (measured, every few steps)": (sparse, sparse),
        "generalized line derivatives (measured)": (line, line),
    }  # fmt: skip
    print("\n| work per step | s at unit costs | with ideal warm starts |\n|---|---:|---:|")
    for k, (now, ideal) in rows.items():
        print(f"| {k} | {now:.3f} | {ideal:.3f} |")
    now, ideal = (sum(v[i] for v in rows.values()) for i in (0, 1))
    print(f"| **total** | **{now:.3f}** | **{ideal:.3f}** |")
    print(
        f"Lanczos products per step {lanczos:.1f} (ideal {firsts:.1f}); the rest of the "
        "synchronised time is overhead (vector algebra, Krylov bases, dispatch)."
    )


def compare(
    a: dyn.Trajectory, b: dyn.Trajectory, names: tuple[str, str] = ("optimised", "straightforward")
) -> None:
    n = min(a.steps_done, b.steps_done) + 1
    print(f"\n{names[0]} vs {names[1]} outputs (max relative difference over the common steps):")
    for k in ("gd/loss", "gd/sharpness", "gd/x", "predicted/x", "predicted/sharpness",
              "generalized/x", "constrained/loss", "constrained/alpha", "constrained/delta",
              "theorem1/sharpness", "flow/loss", "flow/distance"):  # fmt: skip
        x, y = a[k][:n], b[k][:n]
        scale = np.max(np.abs(y))
        print(f"  {k:24s} {np.max(np.abs(x - y)) / scale:.2e} (of max |value| {scale:.3g})")
    print(
        "\nProjection residuals (max over steps >= 1): |S - 2/eta| / (2/eta), |grad L . u| / ||grad L||"
    )
    for name, t in zip(names, (a, b)):
        rs = np.abs(t["constrained/residual_sharpness"][1:]) * t.lr / 2
        rg = np.abs(t["constrained/residual_grad_u"][1:] / t["constrained/grad_norm"][1:])
        print(f"  {name:16s} {rs.max():.1e}  {rg.max():.1e}")


def save(runs: dict[tuple[str, bool], dyn.Trajectory], path: str) -> None:
    """Every recorded array of every run in one ``.npz`` (for ``compare_outputs.py``)."""
    out = {
        f"{name}|generalized={generalized}|{k}": np.asarray(v)
        for (name, generalized), traj in runs.items()
        for k, v in traj.arrays.items()
    }
    np.savez(path, **out)
    print(f"\nsaved {len(out)} arrays of {len(runs)} runs to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--baseline-steps", type=int, default=4, help="0: skip the baseline")
    ap.add_argument("--save", help="write the optimised runs' arrays to this .npz")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()}, devices: {jax.devices()}")
    ds = data.cifar10(args.n)
    obj, p0 = build("mlp", ds, "mse")
    th0, u0 = instability_point(obj, p0, args.lr, args.n)
    space = reduction.row_space(obj, p0)
    coords = {
        "row space": (space.objective, space.reduce(th0), space.reduce(u0)),
        "full": (obj, th0, u0),
    }
    costs = {}
    for name, (o, th, _) in coords.items():
        costs[name] = unit_costs(o, th)
        print(f"\n### unit costs (float64), {name} coordinates ({o.num_params:,} parameters)\n")
        print("| operation | ms | HVP-equivalents |\n|---|---:|---:|")
        for k, v in costs[name].items():
            print(f"| {k} | {1e3 * v:.1f} | {v / costs[name]['hvp']:.2f} |")
    runs, walls = {}, {}
    for name, (o, th, u) in coords.items():
        for generalized in (False, True):
            label = f"optimised ({name} coordinates, defaults" + (
                ", generalized=True)" if generalized else ")"
            )
            runs[name, generalized], walls[name, generalized], _ = run(
                o, th, u, args.lr, args.steps, OPTIMISED, label, generalized, costs[name]
            )
    if args.save:
        save(runs, args.save)
    for (name, generalized), wall in walls.items():
        print(
            f"\ntarget 0.7 s/step, {name} coordinates, generalized={generalized}: "
            f"{'met' if wall <= 0.7 else 'not met'} ({wall:.3f} s/step)"
        )
    compare(runs["row space", True], runs["full", True], ("row-space", "full-coordinate"))
    if args.baseline_steps > 0:
        slow, slow_wall, _ = run(
            obj, th0, u0, args.lr, args.baseline_steps, STRAIGHTFORWARD, "straightforward", True
        )
        compare(runs["full", True], slow)
        for name in coords:
            print(
                f"\nspeed-up {slow_wall / walls[name, True]:.1f}x ({name} coordinates against "
                "the straightforward run, both with generalized=True)"
            )


if __name__ == "__main__":
    main()
