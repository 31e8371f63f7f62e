"""The training loss ``L(theta)`` as a function of a flat parameter vector (Sec. 3, App. D.3).

An :class:`Objective` evaluates, at a flat vector ``p`` of ``num_params`` parameters,

* ``value(p) = L(p) = (1/n) sum_i loss(f(x_i; p), y_i)``, ``grad(p)``, ``value_and_grad(p)``;
* ``hvp(p, v) = grad^2 L(p) v`` (forward-over-reverse; ``v`` may be ``(d,)`` or ``(d, k)``);
* ``D(p, order, *vs)``: the ``order``-th derivative ``D^order L(p)`` contracted with the
  given vectors, e.g. ``D(p, 3, u, u) = grad^3 L(p)[u, u]``, the sharpness gradient of
  Lemma 2 when ``u`` is the top eigenvector; fewer vectors leave free indices (dense, tiny
  problems only). Orders 1-4, forward-over-reverse: one reverse pass for the gradient, then
  one forward (``jvp``) pass per contracted direction;
* ``accuracy(p)`` on the training set, ``evaluate(p, dataset)`` (loss and accuracy) on a
  held-out split;
* ``fn``: ``L`` as a pure scalar JAX function of ``p`` (for :mod:`eos.curvature`).

Precision. Everything computes in the dtype of ``p``: the same objective called with
``p.astype(jnp.float64)`` computes in float64 (parameters are unravelled in ``p.dtype``; float
inputs and the ``1/n`` weights are cast to ``p.dtype`` inside), which is how the paper switches
to 64-bit after instability (App. D.3). Each method is jitted once per objective; the
training data are passed to the compiled functions as arguments (not captured as constants),
so each compiles once per dtype and input shape. A program that calls the methods inside its
own ``jax.jit`` would capture the data again, as constants of *its* compiled code: compile it
with :meth:`Objective.jit` instead, which passes them in as an argument (:meth:`with_data`).

Ghost batching. With ``chunk_size=c`` the ``n`` examples are split into ``ceil(n/c)`` chunks
(the last one padded with copies of the first example carrying weight 0), and every quantity
is the sum over chunks of that quantity for the chunk loss ``L_c(p) = sum_{i in c} w_i
loss_i(p)`` with ``w_i = 1/n`` (``0`` for padding). Because ``L = sum_c L_c`` and every
quantity above is linear in ``L``, the result equals the full batch up to rounding. The chunks
are visited by a ``lax.scan`` whose body differentiates one chunk (reverse mode inside the
body only), so memory is that of one chunk, never a reverse pass through the whole scan.
With chunking, ``fn`` carries a custom JVP whose tangent is ``grad L . t`` computed chunk by
chunk, so ``jax.grad(fn)`` and forward-over-reverse derivatives of ``fn`` (``hvp``,
``D3``) also stay chunked; reverse-over-reverse through ``fn`` works but stores every chunk.
Note that ``fn`` closes over the training data (a jit of ``fn`` embeds them as constants, about
1 s extra compile time for 5,000 CIFAR images); in hot loops prefer the methods, in a
program compiled by :meth:`Objective.jit`.
"""

from __future__ import annotations

import copy
import functools
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from eos import losses as _losses
from eos import models as _models
from eos import sharding as _sharding
from eos import validate as _validate
from eos.curvature.derivatives import D, hvp
from eos.data import Dataset
from eos.validate import positive_int

__all__ = ["Objective", "ObjectiveLike", "PureOps", "build", "check_objective", "line_derivatives"]

MAX_ORDER = 4


# --------------------------------------------------------------------------- derivatives


def line_derivatives(
    f: Callable[[jax.Array], jax.Array], p: jax.Array, u: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(f(p), u . grad f(p), u^T grad^2 f(p) u)``: the value and first two derivatives of
    ``phi(s) = f(p + s u)`` at ``s = 0``, forward-over-forward (two nested ``jvp``, no reverse
    pass: about a third of the cost of a gradient plus an HVP on the paper's MLP)."""
    u = jnp.asarray(u).astype(p.dtype)

    def phi_and_slope(s: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.jvp(lambda r: f(p + r * u), (s,), (jnp.ones_like(s),))

    zero = jnp.zeros((), p.dtype)
    (value, slope), (_, curvature) = jax.jvp(phi_and_slope, (zero,), (jnp.ones_like(zero),))
    return value, slope, curvature


def _hvp(f: Callable, p: jax.Array, v: jax.Array) -> jax.Array:
    """``grad^2 f(p) v`` (:func:`eos.curvature.hvp`); ``v`` of shape ``(d,)`` or ``(d, k)``."""
    v = v.astype(p.dtype)
    one = lambda w: hvp(f, p, w)  # noqa: E731
    if v.ndim == 1:
        return one(v)
    return jax.vmap(one, in_axes=1, out_axes=1)(v)


# --------------------------------------------------------------------------- data layout


def _layout(dataset: Dataset, chunk_size: int | None, mesh: Any = None) -> dict[str, jax.Array]:
    """Device arrays ``x``, ``y``, ``w`` (weights ``1/n``); with ``chunk_size`` a leading chunk
    axis, the last chunk padded with copies of example 0 of weight 0. With a device ``mesh``,
    equal shards of chunks over its devices (:func:`eos.sharding.layout`)."""
    x, y = np.asarray(dataset.inputs), np.asarray(dataset.labels)
    n = len(y)
    w = np.full((n,), 1.0 / n, dtype=np.float64)
    if mesh is not None:
        return _sharding.layout(x, y, w, chunk_size, mesh)
    if chunk_size is not None:
        c = min(chunk_size, n)
        num_chunks = math.ceil(n / c)
        pad = num_chunks * c - n
        if pad:
            x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
            y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
            w = np.concatenate([w, np.zeros((pad,), dtype=np.float64)])
        x = x.reshape(num_chunks, c, *x.shape[1:])
        y = y.reshape(num_chunks, c)
        w = w.reshape(num_chunks, c)
    return {"x": jnp.asarray(x), "y": jnp.asarray(y), "w": jnp.asarray(w)}


def _reduce(q: Callable, p: jax.Array, data: Any, *args: Any, vary: Callable | None = None) -> Any:
    """``sum_c q(p, chunk_c, *args)`` by ``lax.scan`` when ``data`` is chunked, else
    ``q(p, data, *args)``. Each ``q`` call differentiates only its own chunk. ``vary`` marks the
    accumulator device-varying inside :func:`eos.sharding.reduce`."""
    if data is None or data["w"].ndim == 1:
        return q(p, data, *args)
    first = jax.tree_util.tree_map(lambda a: a[0], data)
    shapes = jax.eval_shape(q, p, first, *args)
    init = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    init = init if vary is None else vary(init)

    def body(acc, chunk):
        return jax.tree_util.tree_map(jnp.add, acc, q(p, chunk, *args)), None

    return lax.scan(body, init, data)[0]


def _check_labels(dataset: Dataset, criterion: _losses.Criterion) -> None:
    y = np.asarray(dataset.labels)
    criterion.check_num_classes(dataset.num_classes)
    if dataset.num_classes == 1:
        bad = ~np.isin(y, (-1, 1))
        if bad.any():
            raise ValueError(
                f"data set {dataset.name!r} has num_classes=1 (binary) but labels other than "
                f"±1, e.g. {y[bad][:3].tolist()}"
            )
    elif y.size and (y.min() < 0 or y.max() >= dataset.num_classes):
        raise ValueError(
            f"data set {dataset.name!r} has labels outside 0..{dataset.num_classes - 1}"
        )


def _check_compatible(train: Dataset | None, other: Dataset) -> None:
    """A held-out set must share the training set's task and preprocessing (same number of
    outputs, same standardisation statistics, same vocabulary), else predictions are wrong."""
    if train is None:
        return
    if train.metadata.get("row_space"):
        raise ValueError(
            "this objective works in the row space of its training inputs (eos.reduction), "
            "which held-out inputs leave: evaluate with the full objective at RowSpace.lift(p)"
        )
    if other.num_classes != train.num_classes:
        raise ValueError(
            f"data set {other.name!r} has num_classes={other.num_classes}, but the objective was "
            f"built on {train.name!r} with num_classes={train.num_classes}"
        )
    for key in ("mean", "std", "vocab"):
        a, b = train.metadata.get(key), other.metadata.get(key)
        if a is not None and b is not None and tuple(a) != tuple(b):
            raise ValueError(
                f"data set {other.name!r} ({other.metadata.get('split')}) was preprocessed "
                f"with a different {key!r} than the training set: load it with "
                f"train_n={train.metadata.get('n', len(train))}"
            )


# --------------------------------------------------------------------------- Objective

# Objective.jit inlines data sets up to this size into the compiled programs as constants.
INLINE_DATA_BYTES = 1 << 20


def _nbytes(data: Any) -> int:
    return sum(int(getattr(a, "nbytes", 0)) for a in jax.tree_util.tree_leaves(data))


def _floating(a: Any) -> bool:
    return hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)


@runtime_checkable
class ObjectiveLike(Protocol):
    """What the dynamics (:mod:`eos.dynamics`) and the diagnostics (:mod:`eos.analysis`) need of
    a loss ``L(theta)`` over a flat parameter vector: its value, gradient, Hessian-vector
    products and directional derivatives ``D^m L(p)[v_1, ..., v_j]`` (Lemma 2's sharpness
    gradient is ``D(p, 3, u, u)``). :class:`Objective` is the implementation; any object with
    these methods is accepted (``isinstance(obj, ObjectiveLike)`` checks their presence).
    """

    def value(self, p: jax.Array) -> jax.Array: ...

    def grad(self, p: jax.Array) -> jax.Array: ...

    def value_and_grad(self, p: jax.Array) -> tuple[jax.Array, jax.Array]: ...

    def hvp(self, p: jax.Array, v: jax.Array) -> jax.Array: ...

    def D(self, p: jax.Array, order: int, *vs: jax.Array) -> jax.Array: ...


def check_objective(objective: Any) -> ObjectiveLike:
    """``objective`` if it satisfies :class:`ObjectiveLike`, else a ``ValueError`` naming what
    it lacks."""
    if isinstance(objective, ObjectiveLike):
        return objective
    missing = [
        name
        for name in ("value", "grad", "value_and_grad", "hvp", "D")
        if not callable(getattr(objective, name, None))
    ]
    raise ValueError(
        "objective must be an eos.objective.Objective (or offer value, grad, value_and_grad, "
        f"hvp and D); {type(objective).__name__} lacks {', '.join(missing)}. Wrap a plain scalar "
        "function with eos.objective.Objective.from_function(f)."
    )


class PureOps(NamedTuple):
    """An objective's compiled kernels as pure functions of ``(p, ..., data)`` plus the data,
    so that a caller's own ``jax.jit`` receives the training data as an argument rather than
    baking them in as constants (:meth:`Objective.pure_ops`)."""

    value_and_grad: Callable[[jax.Array, Any], tuple[jax.Array, jax.Array]]
    grad: Callable[[jax.Array, Any], jax.Array]
    hvp: Callable[[jax.Array, jax.Array, Any], jax.Array]
    data: Any


class Objective:
    """``L`` over a flat parameter vector; see the module docstring.

    Construct with :func:`build` (a model, a data set, a criterion) or
    :meth:`Objective.from_function` (any scalar JAX function of a flat vector).
    """

    def __init__(
        self,
        chunk_loss: Callable[[jax.Array, Any], jax.Array],
        data: dict[str, jax.Array] | None,
        *,
        num_params: int | None,
        unravel: Callable[[jax.Array], Any] | None = None,
        chunk_correct: Callable[[jax.Array, Any], jax.Array] | None = None,
        apply: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
        chunk_size: int | None = None,
        criterion: _losses.Criterion | None = None,
        model: nn.Module | None = None,
        dataset: Dataset | None = None,
        mesh: Any = None,
    ) -> None:
        self._chunk_loss = chunk_loss
        self._chunk_correct = chunk_correct
        self._data = data
        self.num_params = num_params
        self.unravel = unravel if unravel is not None else (lambda p: p)
        self.chunk_size = chunk_size
        self.criterion = criterion
        self.model = model
        self.dataset = dataset
        self._apply = apply
        self._eval_data: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.mesh = mesh  # the examples sharded over its devices (eos.sharding), or None
        self._sum = _sharding.summation(_reduce, mesh)
        loss, total = chunk_loss, self._sum
        self._value = jax.jit(lambda p, data: total(loss, p, data))
        self._value_and_grad = jax.jit(
            lambda p, data: total(lambda p, c: jax.value_and_grad(loss)(p, c), p, data)
        )
        self._grad = jax.jit(lambda p, data: total(lambda p, c: jax.grad(loss)(p, c), p, data))
        self._hvp = jax.jit(
            lambda p, v, data: total(lambda p, c, v: _hvp(lambda q: loss(q, c), p, v), p, data, v)
        )
        self._D = jax.jit(
            lambda p, order, vs, data: total(
                lambda p, c, vs: D(lambda q: loss(q, c), p, order, *vs), p, data, vs
            ),
            static_argnums=1,
        )
        if chunk_correct is not None:
            self._accuracy = jax.jit(lambda p, data: total(chunk_correct, p, data))
        else:
            self._accuracy = None
        correct = (lambda p, d: None) if chunk_correct is None else chunk_correct
        self._evaluate = jax.jit(lambda p, data: (total(loss, p, data), total(correct, p, data)))
        self._outputs = jax.jit(apply) if apply is not None else None
        self.fn = jax.jit(self._make_fn())

    # ---- construction

    @classmethod
    def from_function(
        cls, f: Callable[[jax.Array], jax.Array], *, num_params: int | None = None
    ) -> Objective:
        """Wrap a scalar JAX function ``f`` of a flat vector (toy model, synthetic tests).

        ``accuracy`` returns NaN; ``unravel`` is the identity; ``num_params`` as given.
        """
        return cls(lambda p, _data: f(p), None, num_params=num_params)

    def _make_fn(self) -> Callable[[jax.Array], jax.Array]:
        data, loss, total = self._data, self._chunk_loss, self._sum
        if data is None or data["w"].ndim == 1:
            return lambda p: loss(p, data)

        @jax.custom_jvp
        def fn(p):
            return total(loss, p, data)

        @fn.defjvp
        def fn_jvp(primals, tangents):
            (p,), (t,) = primals, tangents
            value, g = total(lambda p, c: jax.value_and_grad(loss)(p, c), p, data)
            return value, jnp.dot(g, t.astype(g.dtype))

        return fn

    # ---- data as an argument of compiled programs

    def with_data(self, data: dict[str, jax.Array] | None) -> Objective:
        """This objective on ``data``, laid out like its own (the same pytree of arrays): in
        practice its own data as a tracer, inside a program compiled by :meth:`jit`."""
        new = copy.copy(self)
        new._data = data
        new.fn = jax.jit(new._make_fn())
        return new

    def jit(self, body: Callable[..., Any]) -> Callable[..., Any]:
        """``jax.jit`` of ``body(self, *args)``, with the training data an argument of the
        compiled program rather than constants inlined into it.

        A jitted closure that calls this objective's methods inlines its data set into the
        compiled code, which XLA then tries to constant-fold; for the paper's MLP on 5,000
        CIFAR-10 images that made the first tracked step compile in 60 s and peak at 4.6 GB on
        the CPU (32 s and 2.6 GB with the data as an argument), and every entry of the
        persistent compilation cache carried its own copy of the data. Data sets of at most
        ``INLINE_DATA_BYTES`` (1 MiB) are still inlined: there constant folding pays (the
        smoke-sized tests run 7% faster). ``body`` receives the objective (rebound to the
        traced data) as its first argument::

            step = objective.jit(lambda obj, p, lr: p - lr * obj.grad(p))
            p = step(p, 0.02)
        """
        data = self._data
        if _nbytes(data) <= INLINE_DATA_BYTES:
            return jax.jit(functools.partial(body, self))
        compiled = jax.jit(lambda data, *args: body(self.with_data(data), *args))
        # The methods cast float data to the dtype of p at every evaluation, which XLA folded
        # away when the data were constants; passed in, they are cast once per dtype here
        # (exact); uncast, tracked float64 steps of the paper MLP on 1,000 images took 0.86 s
        # instead of 0.62 s.
        cast: dict[Any, Any] = {}

        def data_for(args: tuple) -> Any:
            dtype = next((a.dtype for a in jax.tree_util.tree_leaves(args) if _floating(a)), None)
            if dtype not in cast:
                cast[dtype] = jax.tree_util.tree_map(
                    lambda a: a.astype(dtype) if dtype is not None and _floating(a) else a, data
                )
            return cast[dtype]

        @functools.wraps(body)
        def call(*args: Any) -> Any:
            return compiled(data_for(args), *args)

        call.lower = lambda *args: compiled.lower(data_for(args), *args)  # type: ignore[attr-defined]
        return call

    def pure_ops(self) -> PureOps:
        """The jitted value-and-gradient, gradient and HVP kernels with the data as their last
        argument, and the data (see :class:`PureOps`)."""
        return PureOps(self._value_and_grad, self._grad, self._hvp, self._data)

    # ---- the public interface (all jitted, in the dtype of p)

    def _p(self, p: jax.Array, name: str = "p", columns: bool = False) -> jax.Array:
        """``p`` checked to hold ``num_params`` entries (a clear error instead of XLA's)."""
        return _validate.parameter_vector(p, name, self.num_params, columns=columns)

    def value(self, p: jax.Array) -> jax.Array:
        """``L(p)``."""
        return self._value(self._p(p), self._data)

    def grad(self, p: jax.Array) -> jax.Array:
        """``grad L(p)``, shape ``(d,)``."""
        return self._grad(self._p(p), self._data)

    def value_and_grad(self, p: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(L(p), grad L(p))``."""
        return self._value_and_grad(self._p(p), self._data)

    def hvp(self, p: jax.Array, v: jax.Array) -> jax.Array:
        """``grad^2 L(p) v`` for ``v`` of shape ``(d,)``, or column by column for ``(d, k)``."""
        p = self._p(p)
        v = jnp.asarray(self._p(v, "v", columns=True), dtype=p.dtype)
        return self._hvp(p, v, self._data)

    def D(self, p: jax.Array, order: int, *vs: jax.Array) -> jax.Array:
        """``D^order L(p)[vs...]`` (orders 1-4); fewer vectors leave free indices."""
        if int(order) != order or not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be an integer in 1..{MAX_ORDER}, got {order!r}")
        if len(vs) > order:
            raise ValueError(f"at most order={order} vectors can be contracted, got {len(vs)}")
        p = self._p(p)
        vs = tuple(jnp.asarray(self._p(v, "v"), dtype=p.dtype) for v in vs)
        return self._D(p, int(order), vs, self._data)

    def accuracy(self, p: jax.Array) -> jax.Array:
        """Training accuracy (fraction correct); NaN when the objective has no labels."""
        if self._accuracy is None:
            return jnp.asarray(jnp.nan, dtype=jnp.asarray(p).dtype)
        return self._accuracy(self._p(p), self._data)

    def evaluate(self, p: jax.Array, dataset: Dataset) -> dict[str, jax.Array]:
        """``{"loss": ..., "accuracy": ...}`` of the model at ``p`` on ``dataset`` (e.g. a test
        split), chunked like the training data."""
        if self.criterion is None or self._apply is None:
            raise ValueError("evaluate needs an objective built from a model and a criterion")
        if not isinstance(dataset, Dataset):
            raise TypeError(f"evaluate needs an eos.data.Dataset, got {type(dataset).__name__}")
        data = self._eval_data.get(dataset)
        if data is None:
            _check_compatible(self.dataset, dataset)
            _check_labels(dataset, self.criterion)
            data = _layout(dataset, self.chunk_size, self.mesh)
            self._eval_data[dataset] = data
        loss, acc = self._evaluate(self._p(p), data)
        return {"loss": loss, "accuracy": acc}

    def outputs(self, p: jax.Array, inputs: jax.Array | np.ndarray | None = None) -> jax.Array:
        """Network outputs ``f(x; p)`` for ``inputs`` (default: the training inputs), unchunked."""
        if self._apply is None:
            raise ValueError("outputs needs an objective built from a model")
        if inputs is None:
            inputs = self.dataset.inputs
        return self._outputs(self._p(p), jnp.asarray(inputs))

    def __repr__(self) -> str:
        parts = [f"num_params={self.num_params}"]
        if self.model is not None:
            parts.insert(0, f"model={type(self.model).__name__}")
        if self.dataset is not None:
            parts.append(f"data={self.dataset.name}[{len(self.dataset)}]")
        if self.criterion is not None:
            parts.append(f"criterion={self.criterion.name}")
        if self.chunk_size is not None:
            parts.append(f"chunk_size={self.chunk_size}")
        if self.mesh is not None:
            parts.append(f"devices={self.mesh.devices.size}")
        return f"Objective({', '.join(parts)})"


# --------------------------------------------------------------------------- build


@functools.lru_cache(maxsize=32)
def _initial_parameters(
    module: nn.Module, shape: tuple[int, ...], dtype: str, seed: int
) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """``ravel_pytree`` of ``module.init(PRNGKey(seed), zeros(shape, dtype))`` in float32.

    Initial values depend only on the module, the input shape and the seed, so they are
    cached: rebuilding an objective (another chunk size, criterion or data subset of the same
    shape) reuses them instead of recompiling the initialisers.
    """
    params = jax.jit(module.init)(jax.random.PRNGKey(seed), jnp.zeros(shape, dtype=dtype))
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float32), params)
    return ravel_pytree(params)


def _module(model: str | nn.Module, data: Dataset, model_kw: dict[str, Any]) -> nn.Module:
    """The flax module ``model`` names (:func:`eos.models.build` with ``num_classes`` and, for the
    Transformer, ``vocab_size``, ``pad_id`` and ``max_len`` defaulting to the data set's), or
    ``model`` itself when it is a module (then ``model_kw`` must be empty)."""
    if isinstance(model, str):
        kw = dict(model_kw)
        if model.lower() == "transformer":
            kw.setdefault("vocab_size", data.metadata.get("vocab_size"))
            kw.setdefault("pad_id", data.metadata.get("pad_id", 0))
            kw.setdefault("max_len", max(64, int(np.asarray(data.inputs).shape[1])))
        return _models.build(model, num_classes=data.num_classes, **kw)
    if isinstance(model, nn.Module):
        if model_kw:
            raise ValueError(f"model keywords {sorted(model_kw)} need a model name, not a module")
        return model
    raise TypeError(f"model must be a name or a flax module, got {type(model).__name__}")


def _initial_point(
    module: nn.Module, x: np.ndarray, seed: int
) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """``(p0, unravel0)`` of :func:`_initial_parameters` for inputs like ``x`` (cached when the
    module is hashable; an unhashable user module is initialised without the cache)."""
    spec = (module, (1, *x.shape[1:]), str(x.dtype), int(seed))
    try:
        hash(module)
    except TypeError:  # an unhashable user module: initialise without the cache
        return _initial_parameters.__wrapped__(*spec)
    return _initial_parameters(*spec)


class _ModelFunctions(NamedTuple):
    """The per-chunk functions of a model objective (see :class:`Objective`)."""

    unravel: Callable[[jax.Array], Any]
    apply: Callable[[jax.Array, jax.Array], jax.Array]
    chunk_loss: Callable[[jax.Array, dict[str, jax.Array]], jax.Array]
    chunk_correct: Callable[[jax.Array, dict[str, jax.Array]], jax.Array]


def _model_functions(
    module: nn.Module, unravel0: Callable[[jax.Array], Any], crit: _losses.Criterion
) -> _ModelFunctions:
    """Parameters in the dtype of ``p``; outputs ``module.apply`` (floating inputs cast to that
    dtype); a chunk's loss ``sum_i w_i l(f(x_i), y_i)`` and weighted count of correct answers."""

    def unravel(p: jax.Array) -> Any:
        return jax.tree_util.tree_map(lambda a: a.astype(p.dtype), unravel0(p))

    def apply(p: jax.Array, x: jax.Array) -> jax.Array:
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(p.dtype)
        return module.apply(unravel(p), x)

    def chunk_loss(p: jax.Array, chunk: dict[str, jax.Array]) -> jax.Array:
        per = crit.per_example(apply(p, chunk["x"]), chunk["y"])
        return jnp.sum(chunk["w"].astype(p.dtype) * per)

    def chunk_correct(p: jax.Array, chunk: dict[str, jax.Array]) -> jax.Array:
        ok = crit.correct(apply(p, chunk["x"]), chunk["y"])
        return jnp.sum(chunk["w"].astype(p.dtype) * ok.astype(p.dtype))

    return _ModelFunctions(unravel, apply, chunk_loss, chunk_correct)


def build(
    model: str | nn.Module,
    data: Dataset,
    criterion: str | _losses.Criterion,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    devices: int | Sequence[Any] | None = None,
    **model_kw: Any,
) -> tuple[Objective, jax.Array]:
    """``(objective, p0)`` for ``model`` trained on ``data`` with ``criterion``.

    ``model``: a name of :data:`eos.models.MODELS` (built with ``num_classes =
    data.num_classes`` and ``model_kw``; for the Transformer ``vocab_size`` and ``pad_id``
    default to the data set's) or a flax module. ``criterion``: a name of
    :data:`eos.losses.CRITERIA` (``"mse"`` picks categorical/binary from ``data.num_classes``).
    ``p0``: the flattened initial parameters (``jax.random.PRNGKey(seed)``), float32.
    ``chunk_size``: ghost-batch size (see the module docstring); ``None`` = one full batch.
    ``devices``: the examples are sharded over these (a count or a list of devices; default
    every local device, or ``$EOS_DEVICES`` of them: :func:`eos.sharding.run_devices`).
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be an eos.data.Dataset, got {type(data).__name__}")
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    crit = (
        criterion
        if isinstance(criterion, _losses.Criterion)
        else _losses.get(criterion, num_classes=data.num_classes)
    )
    _check_labels(data, crit)
    module = _module(model, data, model_kw)
    p0, unravel0 = _initial_point(module, np.asarray(data.inputs), seed)
    fns = _model_functions(module, unravel0, crit)
    mesh = _sharding.data_mesh(devices)
    objective = Objective(
        fns.chunk_loss,
        _layout(data, chunk_size, mesh),
        num_params=int(p0.size),
        unravel=fns.unravel,
        chunk_correct=fns.chunk_correct,
        apply=fns.apply,
        chunk_size=chunk_size,
        criterion=crit,
        model=module,
        dataset=data,
        mesh=mesh,
    )
    return objective, p0.astype(jnp.float32)
