"""Throughput of the four architectures of App. D.1 against the device's matrix-multiply rate
(issue 19).

For each architecture (MLP, CNN, ResNet18, Transformer: the App. E/G settings
``mlp-mse-cifar10``, ``cnn-mse-cifar10``, ``resnet18-mse-cifar10cd``, ``transformer-mse-sst2``
of :mod:`eos.experiments.settings`) at the sizes of the ``paper`` and ``quick`` profiles (read
from the registry, :func:`eos.experiments.get_config`, never retyped), in float64 and float32,
this script measures the wall-clock time of

* a loss ``L(p)``, a gradient ``grad L(p)`` and a Hessian-vector product ``grad^2 L(p) v`` (the
  kernels of every tracked step, :class:`eos.objective.Objective`; best of ``--repeats`` after a
  compiling call, whose time is reported as ``compile_s``);
* a tracked step (:func:`eos.dynamics.track` from the initialisation, float64 only: the
  tracker computes in float64, App. D.3), where affordable: the median time between the
  per-step checkpoints of one run of ``1 + k`` steps, the first (compiling) step apart;

the FLOP count of each kernel from XLA's cost analysis of the compiled program
(``jax.jit(f).lower(...).compile().cost_analysis()["flops"]``); ghost batches are a
``lax.scan`` whose body XLA counts once, so a chunked objective's count is that of one chunk
times the number of chunks), and the achieved rate ``FLOPs / time`` as a fraction of the rate
of an ``m x m`` by ``m x m`` matrix multiply in the same dtype, measured in the same run on the
same device, with ``m`` the side whose ``2 m^3`` FLOPs is closest to the kernel's (clipped to
128..1536). That fraction is comparable across machines.

Sizes. ``paper`` is 5,000 examples, too slow for a 2-core CPU: ``--n`` takes fewer (the
kernels' cost is linear in the number of examples, so the table's ``t @ paper n`` column
extrapolates ``t x n_paper / n``; the FLOP fraction does not depend on ``n`` beyond the chunk
size). The MLP is measured in full coordinates (the experiments' row-space reduction,
:mod:`eos.reduction`, applies only to ``n < 3072``).

Usage::

    python benchmarks/throughput.py                     # everything (minutes to hours on a CPU)
    python benchmarks/throughput.py --arch cnn --size paper --dtype float64 --n 500
    python benchmarks/throughput.py --quick --arch mlp  # smoke size, float64: seconds

``--lowering xla matmul`` measures the CNN and ResNet18 with both lowerings of their
convolutions side by side (:mod:`eos.convolution`: XLA's convolution, which the models used
until the im2col lowering replaced it, and the im2col lowering, their default now).

``--conv`` adds the two lowerings on the paper CNN's single layers at the top level of a
program (:func:`conv_lowerings`: XLA's convolution against :func:`eos.convolution.conv_matmul`),
forward and both transposes.

``--json PATH`` writes every row (and the matmul rates) as JSON; the Markdown table goes to
stdout. The machine is shared: the load average is printed with the table; quote timings
with it. Run from the repository root (or with it on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import eos  # noqa: E402,F401  (float64)
from eos.convolution import LOWERINGS, conv_matmul  # noqa: E402

#: Architecture -> the App. E/G setting whose sizes it is measured at.
ARCHS = {
    "mlp": "mlp-mse-cifar10",
    "cnn": "cnn-mse-cifar10",
    "resnet18": "resnet18-mse-cifar10cd",
    "transformer": "transformer-mse-sst2",
}
#: The architectures with convolutions (``--lowering`` applies to them).
CONV_ARCHS = ("cnn", "resnet18")
SIZES = ("paper", "quick", "smoke")
DTYPES = ("float64", "float32")
KERNELS = ("loss", "grad", "hvp")


# --------------------------------------------------------------------------- measurement


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """``(first, best)``: seconds of a first (compiling) call of ``fn`` and the minimum of
    ``repeats`` further calls (the least disturbed by other processes)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return first, best


def xla_flops(fn: Callable, *args: Any) -> float:
    """FLOPs of ``jax.jit(fn)(*args)`` by XLA's cost analysis of the compiled program (a
    ``while``/``scan`` body counts once, whatever its trip count)."""
    compiled = jax.jit(fn).lower(*args).compile()
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per program
        cost = cost[0]
    return float(cost["flops"])


_MATMUL: dict[tuple[int, str], float] = {}


def matmul_side(flops: float) -> int:
    """The side ``m`` (a multiple of 64 in 128..1536) whose ``2 m^3`` is closest to ``flops``."""
    m = round((max(flops, 1.0) / 2.0) ** (1.0 / 3.0) / 64.0) * 64
    return int(min(max(m, 128), 1536))


def matmul_rate(m: int, dtype: str, repeats: int) -> float:
    """FLOP/s of an ``m x m`` by ``m x m`` matrix multiply in ``dtype`` on the default device
    (``2 m^3`` FLOPs; best of ``repeats``, measured once per process)."""
    key = (m, dtype)
    if key not in _MATMUL:
        a = jax.random.normal(jax.random.PRNGKey(0), (m, m), dtype)
        b = jax.random.normal(jax.random.PRNGKey(1), (m, m), dtype)
        mm = jax.jit(jnp.matmul)
        _, t = best_time(lambda: mm(a, b), max(repeats, 3))
        _MATMUL[key] = 2.0 * m**3 / t
    return _MATMUL[key]


# --------------------------------------------------------------------------- one configuration


def configuration(arch: str, size: str, n: int | None, conv: str | None = None) -> Any:
    """The registered configuration of ``arch``'s setting at the largest App. E/G learning rate
    under profile ``size`` (``n``: fewer examples, at most the profile's; ``conv``: the
    convolution lowering of the CNN and ResNet18, :mod:`eos.convolution`)."""
    from eos import experiments as E
    from eos.experiments.settings import SETTINGS

    setting = SETTINGS[ARCHS[arch]]
    name = f"{setting.slug}-lr{max(setting.lrs):g}"
    overrides: dict[str, Any] = {}
    if n is not None and n < E.get_config(name, profile=size).n:
        overrides["n"] = n
    if conv is not None and arch in CONV_ARCHS:
        overrides["model_kwargs"] = {"conv": conv}
    return E.get_config(name, profile=size, **overrides)


def _kernels(objective: Any, v: jax.Array) -> dict[str, Callable]:
    """The objective's own jitted kernels as functions of ``(p, data)``."""
    return {
        "loss": lambda p, data: objective._value(p, data),
        "grad": lambda p, data: objective._grad(p, data),
        "hvp": lambda p, data: objective._hvp(p, v, data),
    }


def kernel_flops(objective: Any, p: jax.Array, v: jax.Array) -> dict[str, float]:
    """FLOPs of each kernel on the whole training set: XLA's count on one ghost batch times
    the number of batches (all of it when unchunked)."""
    data = objective._data
    chunks = 1
    if data["w"].ndim == 2:  # ghost batches: the scan body is counted once
        chunks = int(data["w"].shape[0])
        data = jax.tree_util.tree_map(lambda a: a[0], data)
    return {k: chunks * xla_flops(f, p, data) for k, f in _kernels(objective, v).items()}


def tracked_step(objective: Any, p: jax.Array, lr: float, steps: int) -> dict[str, float]:
    """Seconds per tracked float64 step and the step's mean counts of HVPs and gradients
    (``cost/matvecs``, ``cost/gradients``): one run of ``1 + steps`` steps with a checkpoint
    after every step, timed between checkpoints (the first step, which compiles, apart). The
    stopping rules are off (from the initialisation, App. D.3's eigengap stop can end a run at
    its first step); ``RuntimeError`` if the run still ends before a second step."""
    from eos.dynamics import track

    stamps = [time.perf_counter()]
    traj = track(
        objective, p, lr=lr, steps=1 + steps, progress=False, generalized=True,
        diag_every=10**6, lambda2_every=10**6, checkpoint_every=1,
        lambda2_threshold=math.inf, divergence_factor=math.inf,
        on_checkpoint=lambda _: stamps.append(time.perf_counter()),
    )  # fmt: skip
    stamps.append(time.perf_counter())  # the last step (and the run's wrap-up)
    gaps = np.diff(stamps)
    count = {
        k: float(np.mean(np.asarray(traj.arrays[f"cost/{k}"])[-steps:]))
        for k in ("matvecs", "gradients")
        if f"cost/{k}" in traj.arrays
    }
    stop = str(traj.meta.get("stop_reason", ""))
    if len(gaps) < 2:  # stopped after its first step: no step to time
        raise RuntimeError(f"the tracked run stopped after {len(gaps)} step(s): {stop}")
    return {"step_s": float(np.median(gaps[1:])), "step_first_s": float(gaps[0]),
            "stop_reason": stop, **count}  # fmt: skip


def measure(
    arch: str,
    size: str,
    dtype: str,
    *,
    n: int | None,
    repeats: int,
    step_steps: int = 0,
    conv: str | None = None,
) -> dict[str, Any]:
    """One row: times, FLOPs and matmul fractions of ``arch`` at ``size`` in ``dtype`` (with
    convolution lowering ``conv``, default the models')."""
    from eos.experiments.workspace import build_objective

    config = configuration(arch, size, n, conv)
    objective, p0 = build_objective(config)
    p = jnp.asarray(p0, dtype)
    v = jnp.cos(jnp.arange(p.size, dtype=dtype))
    v = v / jnp.linalg.norm(v)
    from eos import experiments as E

    n_paper = E.get_config(config.name, profile=size).n
    row: dict[str, Any] = {
        "arch": arch, "size": size, "dtype": dtype, "n": config.n, "n_profile": n_paper,
        "d": int(p.size), "chunk_size": config.chunk_size,
        "model_kwargs": dict(config.model_kw), "lr": config.lr,
        "conv": config.model_kw.get("conv", "matmul") if arch in CONV_ARCHS else "-",
    }  # fmt: skip
    flops = kernel_flops(objective, p, v)
    for k, f in _kernels(objective, v).items():
        first, best = best_time(lambda f=f: f(p, objective._data), repeats)
        m = matmul_side(flops[k])
        rate = matmul_rate(m, dtype, repeats)
        row[k] = {
            "s": best, "compile_s": first, "flops": flops[k], "flops_per_s": flops[k] / best,
            "matmul_m": m, "matmul_flops_per_s": rate, "fraction": flops[k] / best / rate,
        }  # fmt: skip
    if step_steps and dtype == "float64":
        row["step"] = tracked_step(objective, p, config.lr, step_steps)
    return row


# --------------------------------------------------------------------------- conv lowerings


def _conv_xla(x: jax.Array, w: jax.Array) -> jax.Array:
    """XLA's convolution (3x3, stride 1, SAME): the models' ``conv="xla"`` reference."""
    dims = ("NHWC", "HWIO", "NHWC")
    return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dims)


def _conv_patches(x: jax.Array, w: jax.Array) -> jax.Array:
    """The same convolution as im2col patches times one matrix multiply
    (:func:`eos.convolution.conv_matmul`, the models' default lowering)."""
    return conv_matmul(x, w, (1, 1), ((1, 1), (1, 1)))


def conv_lowerings(dtype: str, batch: int, repeats: int) -> list[dict[str, Any]]:
    """GFLOP/s of the paper CNN's two 3x3 layers (32x32x3 -> 32, 16x16x32 -> 32 on ``batch``
    images) in both lowerings: the forward convolution and its two transposes, the gradient
    with respect to the input (``dx``) and to the kernel (``dw``), each ``2 B H W 9 C_in
    C_out`` FLOPs."""
    out = []
    for h, c in ((32, 3), (16, 32)):
        x = jax.random.normal(jax.random.PRNGKey(0), (batch, h, h, c), dtype)
        w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, c, 32), dtype)
        g = jnp.ones((batch, h, h, 32), dtype)
        flops = 2.0 * batch * h * h * 9 * c * 32
        for name, f in (("xla", _conv_xla), ("patches", _conv_patches)):
            ops = {
                "fwd": jax.jit(f),
                "dx": jax.jit(lambda x, w, g, f=f: jax.vjp(lambda x: f(x, w), x)[1](g)[0]),
                "dw": jax.jit(lambda x, w, g, f=f: jax.vjp(lambda w: f(x, w), w)[1](g)[0]),
            }
            args = {"fwd": (x, w), "dx": (x, w, g), "dw": (x, w, g)}
            row = {"layer": f"{h}x{h}x{c}->32", "lowering": name, "dtype": dtype, "batch": batch}
            for k, op in ops.items():
                _, t = best_time(lambda op=op, a=args[k]: op(*a), repeats)
                row[k] = flops / t
            out.append(row)
    return out


def conv_table(rows: list[dict[str, Any]]) -> str:
    out = ["| layer | lowering | dtype | forward GFLOP/s | dx GFLOP/s | dw GFLOP/s |",
           "| --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        out.append(
            f"| {r['layer']} | {r['lowering']} | {r['dtype']} | {r['fwd'] / 1e9:.3g} "
            f"| {r['dx'] / 1e9:.3g} | {r['dw'] / 1e9:.3g} |"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- output


def _ms(s: float) -> str:
    return f"{1e3 * s:.3g}" if s < 10 else f"{1e3 * s:.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table: one line per (architecture, size, dtype)."""
    head = (
        "| arch | conv | size | dtype | n | d | loss ms | grad ms | HVP ms | HVP GFLOP "
        "| HVP GFLOP/s | HVP / matmul | grad / matmul | HVP ms @ profile n | tracked step s |"
    )
    out = [head, "|" + " --- |" * 4 + " ---: |" * 11]
    for r in rows:
        h, g = r["hvp"], r["grad"]
        scale = r["n_profile"] / r["n"]
        step = r.get("step", {}).get("step_s")
        out.append(
            f"| {r['arch']} | {r.get('conv', '-')} | {r['size']} | {r['dtype']} | {r['n']} | {r['d']:,} "
            f"| {_ms(r['loss']['s'])} | {_ms(g['s'])} | {_ms(h['s'])} | {h['flops'] / 1e9:.3g} "
            f"| {h['flops_per_s'] / 1e9:.3g} | {h['fraction']:.0%} | {g['fraction']:.0%} "
            f"| {_ms(h['s'] * scale)} | {'-' if step is None else f'{step:.3g}'} |"
        )
    return "\n".join(out)


def environment() -> dict[str, Any]:
    dev = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "device": f"{dev.platform}:{dev.device_kind}",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", nargs="+", choices=list(ARCHS), default=list(ARCHS))
    p.add_argument("--size", nargs="+", choices=SIZES, default=["paper", "quick"])
    p.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    p.add_argument("--n", type=int, help="examples at most (default: the profile's)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--step", type=int, help="tracked steps to time (default 2, --quick 0; float64 only)"
    )
    p.add_argument("--step-sizes", nargs="+", choices=SIZES, default=["quick", "smoke"],
                   help="sizes at which a tracked step is affordable")  # fmt: skip
    p.add_argument(
        "--quick", action="store_true", help="smoke sizes, float64, 1 repeat, no tracked step"
    )
    p.add_argument(
        "--conv", action="store_true", help="also compare the two float64/32 conv lowerings"
    )
    p.add_argument("--lowering", nargs="+", choices=LOWERINGS, default=["matmul"],
                   help="convolution lowerings of the CNN and ResNet18, side by side "
                   "(eos.convolution; 'xla' is the reference the models used before)")  # fmt: skip
    p.add_argument("--json", help="write the rows as JSON to this path")
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.dtype, args.repeats = ["smoke"], ["float64"], 1
    if args.step is None:
        args.step = 0 if args.quick else 2
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    env = environment()
    rows = []
    for arch in args.arch:
        for size in args.size:
            for dtype in args.dtype:
                steps = args.step if size in args.step_sizes else 0
                for conv in args.lowering if arch in CONV_ARCHS else [None]:
                    rows.append(measure(arch, size, dtype, n=args.n, repeats=args.repeats,
                                        step_steps=steps, conv=conv))  # fmt: skip
                    print(f"[throughput] {arch} {conv or ''} {size} {dtype} done",
                          file=sys.stderr, flush=True)  # fmt: skip
    print(f"{env['device']}, {env['cpu_count']} CPUs, JAX {env['jax']}, "
          f"load average {env['load_average'][0]:.2f} ({env['date']})")  # fmt: skip
    print(table(rows))
    conv = []
    if args.conv:
        conv = [r for d in args.dtype for r in conv_lowerings(d, min(args.n or 250, 250), 3)]
        print("\n" + conv_table(conv))
    if args.json:
        rates = [{"m": m, "dtype": d, "flops_per_s": r} for (m, d), r in sorted(_MATMUL.items())]
        Path(args.json).write_text(
            json.dumps({"environment": env, "matmul": rates, "rows": rows, "conv": conv}, indent=1)
        )
    return rows


if __name__ == "__main__":
    main()
