"""Data parallelism inside a run: the objective's examples sharded over the local devices.

The training loss is a sum over examples, ``L(p) = sum_i w_i loss_i(p)`` (``w_i = 1/n``), and so
is every quantity an :class:`eos.objective.Objective` computes from it: the gradient, the
Hessian-vector products ``grad^2 L(p) v`` and the directional derivatives ``D^m L(p)[v, ...]``
(Lemma 2's sharpness gradient ``grad^3 L(p)[u, u]`` included) are linear in ``L``. Split the
examples into ``K`` disjoint shards ``I_1, ..., I_K``; then for each such quantity ``Q``

    ``Q(L) = sum_k Q(L_k)``,   ``L_k(p) = sum_{i in I_k} w_i loss_i(p)``,

with the same weights ``w_i = 1/n`` of the whole set (padding examples carry ``w_i = 0``). So a
one-axis device mesh (axis :data:`AXIS`) computes each shard's contribution on its own device --
the shard's ghost batches visited one at a time, as on one device -- and one ``psum`` (XLA's
all-reduce) adds them: the mathematics is unchanged, only the order of the floating-point
additions differs, so the results agree with one device to rounding (``tests/test_parallel.py``
measures the agreement). Parameters and directions are replicated; inside the shard map they are
marked device-varying (:func:`jax.lax.pcast`) so that a derivative taken there is the shard's own,
not already summed over devices.

Layout (:func:`layout`). With ``K`` devices and ghost batches of at most ``c`` examples, the ``n``
examples are cut into ``K`` contiguous shards of ``m = ceil(n/K)`` and each shard into ``k =
ceil(m/c)`` equal chunks of ``c' = ceil(m/k) <= c`` examples: the arrays have ``K k`` chunks of
``c'``, the last shards padded with copies of example 0 of weight 0. Every device does the same
work (``k`` chunk passes, not ``ceil(n/c)``), and no chunk exceeds the memory of one ghost batch.
Without ghost batching each device holds ``m`` examples.

Devices (:func:`run_devices`): every local device of JAX's default backend, limited to the first
``EOS_DEVICES`` when that variable is set. One device means no mesh and the single-device code
path, bit for bit.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["AXIS", "ENV", "data_mesh", "describe", "layout", "reduce", "run_devices", "summation"]

#: The name of the mesh axis the examples are sharded over.
AXIS = "data"
#: The environment variable that limits the devices a run uses.
ENV = "EOS_DEVICES"


def run_devices(devices: int | Sequence[Any] | None = None) -> list[Any]:
    """The devices a run uses: ``devices`` when a sequence; the first ``devices`` local devices
    when an integer; else every local device of the default backend, or the first
    ``$EOS_DEVICES`` of them."""
    local = jax.local_devices()
    if devices is not None and not isinstance(devices, int):
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices must name at least one device")
        return chosen
    name, count = "devices", devices
    if count is None:
        text = os.environ.get(ENV, "").strip()
        if not text:
            return list(local)
        name = ENV
        try:
            count = int(text)
        except ValueError:
            raise ValueError(f"{ENV}={text!r}: expected a positive integer") from None
    if count < 1 or count > len(local):
        raise ValueError(
            f"{name}={count}: expected 1..{len(local)} (the local {jax.default_backend()} "
            "devices of this process)"
        )
    return list(local[:count])


def data_mesh(devices: int | Sequence[Any] | None = None) -> Mesh | None:
    """The one-axis mesh over :func:`run_devices` (``None`` for one device)."""
    chosen = run_devices(devices)
    if len(chosen) > 1 and not (hasattr(jax, "shard_map") and hasattr(lax, "pcast")):
        warnings.warn(
            f"JAX {jax.__version__} lacks jax.shard_map/lax.pcast: computing on one device "
            f"(sharding over {len(chosen)} needs a newer JAX)",
            stacklevel=2,
        )
        return None
    return None if len(chosen) == 1 else Mesh(np.asarray(chosen), (AXIS,))


def describe(mesh: Mesh | None = None) -> dict[str, Any]:
    """The devices a computation uses, for provenance: count, platform, kind and ids (the
    default device when ``mesh`` is ``None``)."""
    devices = list(mesh.devices.flat) if mesh is not None else run_devices()[:1]
    return {
        "count": len(devices),
        "platform": devices[0].platform,
        "kind": devices[0].device_kind,
        "ids": [int(d.id) for d in devices],
    }


def _pad(a: np.ndarray, total: int, fill: Any = None) -> np.ndarray:
    """``a`` extended to ``total`` rows by copies of row 0 (or by ``fill``)."""
    extra = total - len(a)
    if extra <= 0:
        return a
    rows = np.repeat(a[:1], extra, axis=0) if fill is None else np.full((extra,), fill, a.dtype)
    return np.concatenate([a, rows])


def layout(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, chunk_size: int | None, mesh: Mesh
) -> dict[str, jax.Array]:
    """``x``, ``y``, ``w`` (weights ``1/n``) laid out in equal shards (module docstring) and
    placed on ``mesh``, sharded along their first axis."""
    shards, n = mesh.devices.size, len(y)
    m = math.ceil(n / shards)
    if chunk_size is None:
        k, c = 1, m
    else:
        k = math.ceil(m / min(chunk_size, m))
        c = math.ceil(m / k)
    total = shards * k * c
    x, y, w = _pad(x, total), _pad(y, total), _pad(w, total, 0.0)
    if chunk_size is not None:
        x = x.reshape(shards * k, c, *x.shape[1:])
        y, w = y.reshape(shards * k, c), w.reshape(shards * k, c)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.device_put({"x": x, "y": y, "w": w}, sharding)


def _varying(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: lax.pcast(a, (AXIS,), to="varying"), tree)


def reduce(
    local_sum: Callable[..., Any], q: Callable, p: jax.Array, data: Any, *args: Any, mesh: Mesh
) -> Any:
    """``sum_k local_sum(q, p, shard_k, *args)`` over the shards of ``data`` on ``mesh``: each
    device sums ``q`` over its own ghost batches (``local_sum``, e.g. the objective's chunk
    scan, called with ``vary`` to mark its accumulator device-varying), then one ``psum``."""

    def local(p, data, *args):
        p, args = _varying((p, args))
        part = local_sum(q, p, data, *args, vary=_varying)
        return jax.tree_util.tree_map(lambda a: lax.psum(a, AXIS), part)

    replicated = PartitionSpec()
    specs = (replicated, PartitionSpec(AXIS), *([replicated] * len(args)))
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=replicated)(p, data, *args)


def summation(local_sum: Callable[..., Any], mesh: Mesh | None) -> Callable[..., Any]:
    """``local_sum`` itself without a mesh (one device, the single-device code path bit for
    bit), else its sum over the shards of ``mesh`` (:func:`reduce`)."""
    if mesh is None:
        return local_sum
    return functools.partial(reduce, local_sum, mesh=mesh)
