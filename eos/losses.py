"""Training criteria of the paper's experiments (App. D.2) and accuracy.

Every criterion maps network outputs ``f`` (shape ``(B, C)``, or ``(B, 1)``/``(B,)`` for
binary tasks) and labels ``y`` to a per-example loss, averaged over examples:

* categorical MSE (multi-class, integer labels ``y in {0..C-1}``), the scaling of the
  paper's code (no factor 1/2): ``||f(x) - onehot(y)||^2`` summed over the ``C`` outputs;
* binary MSE (labels ``y in {-1, +1}``, one output): ``(f(x) - y)^2``;
* cross-entropy (multi-class): ``-log softmax(f(x))_y``;
* logistic (labels ``y in {-1, +1}``, one output): ``log(1 + exp(-y f(x)))``, evaluated as
  ``softplus(-y f(x))`` so that it neither overflows nor loses precision for large margins.

:func:`get` turns a name into a :class:`Criterion`; ``"mse"`` picks the categorical or the
binary form from ``num_classes`` (1 means a binary ``±1`` task, as in :mod:`eos.data`).
All functions compute in the floating dtype of ``outputs`` (float32 or float64).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = [
    "CRITERIA",
    "Criterion",
    "accuracy",
    "binary_accuracy",
    "binary_mse",
    "categorical_accuracy",
    "categorical_mse",
    "cross_entropy",
    "get",
    "logistic",
    "per_example_binary_mse",
    "per_example_categorical_mse",
    "per_example_cross_entropy",
    "per_example_logistic",
]


def _binary_outputs(outputs: jax.Array, what: str) -> jax.Array:
    """Outputs of a binary task as a vector ``(B,)``; accepts ``(B,)`` or ``(B, 1)``."""
    outputs = jnp.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[-1] == 1:
        return outputs[:, 0]
    if outputs.ndim == 1:
        return outputs
    raise ValueError(
        f"{what} needs one output per example (shape (B,) or (B, 1)) for binary ±1 labels, "
        f"got outputs of shape {outputs.shape}; for {outputs.shape[-1]} classes use "
        "'mse' (categorical) or 'cross_entropy'"
    )


def _categorical_outputs(outputs: jax.Array, what: str) -> jax.Array:
    outputs = jnp.asarray(outputs)
    if outputs.ndim != 2 or outputs.shape[-1] < 2:
        raise ValueError(
            f"{what} needs outputs of shape (B, C) with C >= 2 classes and integer labels, "
            f"got outputs of shape {outputs.shape}; for one output and ±1 labels use "
            "'mse' (binary) or 'logistic'"
        )
    return outputs


def _float_dtype(outputs: jax.Array):
    dtype = jnp.asarray(outputs).dtype
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def per_example_categorical_mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``||f(x_i) - e_{y_i}||^2`` for each example (shape ``(B,)``), no factor 1/2."""
    outputs = _categorical_outputs(outputs, "categorical MSE")
    onehot = jax.nn.one_hot(labels, outputs.shape[-1], dtype=_float_dtype(outputs))
    return jnp.sum((outputs - onehot) ** 2, axis=-1)


def per_example_binary_mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``(f(x_i) - y_i)^2`` for labels ``y_i in {-1, +1}`` (shape ``(B,)``)."""
    f = _binary_outputs(outputs, "binary MSE")
    return (f - jnp.asarray(labels).astype(f.dtype)) ** 2


def per_example_cross_entropy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``-log softmax(f(x_i))_{y_i}`` for each example (shape ``(B,)``)."""
    outputs = _categorical_outputs(outputs, "cross-entropy")
    logp = jax.nn.log_softmax(outputs, axis=-1)
    return -jnp.take_along_axis(logp, jnp.asarray(labels)[:, None].astype(jnp.int32), axis=-1)[:, 0]


def per_example_logistic(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """``log(1 + exp(-y_i f(x_i))) = softplus(-y_i f(x_i))`` for ``y_i in {-1, +1}``."""
    f = _binary_outputs(outputs, "logistic loss")
    return jax.nn.softplus(-jnp.asarray(labels).astype(f.dtype) * f)


def categorical_mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over examples of ``||f(x) - onehot(y)||^2`` (the paper's code, no 1/2)."""
    return jnp.mean(per_example_categorical_mse(outputs, labels))


def binary_mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over examples of ``(f(x) - y)^2``, ``y in {-1, +1}``."""
    return jnp.mean(per_example_binary_mse(outputs, labels))


def cross_entropy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over examples of ``-log softmax(f(x))_y``."""
    return jnp.mean(per_example_cross_entropy(outputs, labels))


def logistic(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean over examples of ``log(1 + exp(-y f(x)))`` (stable softplus form)."""
    return jnp.mean(per_example_logistic(outputs, labels))


def per_example_categorical_correct(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where ``argmax f(x_i) == y_i`` else 0.0 (ties go to the lowest class index)."""
    outputs = _categorical_outputs(outputs, "categorical accuracy")
    return (jnp.argmax(outputs, axis=-1) == jnp.asarray(labels)).astype(_float_dtype(outputs))


def per_example_binary_correct(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where ``sign(f(x_i)) == y_i`` else 0.0; ``f = 0`` predicts ``-1``."""
    f = _binary_outputs(outputs, "binary accuracy")
    pred = jnp.where(f > 0, 1, -1)
    return (pred == jnp.asarray(labels)).astype(_float_dtype(f))


def categorical_accuracy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples with ``argmax f(x) == y``."""
    return jnp.mean(per_example_categorical_correct(outputs, labels))


def binary_accuracy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples with ``sign f(x) == y`` (``f = 0`` counts as ``-1``)."""
    return jnp.mean(per_example_binary_correct(outputs, labels))


def accuracy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Accuracy, binary (one output, ``±1`` labels) or categorical (``C >= 2`` outputs)."""
    outputs = jnp.asarray(outputs)
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return binary_accuracy(outputs, labels)
    return categorical_accuracy(outputs, labels)


@dataclass(frozen=True)
class Criterion:
    """A named training criterion.

    ``criterion(outputs, labels)`` is the loss averaged over examples;
    ``criterion.per_example(outputs, labels)`` the vector of per-example losses (used by
    :mod:`eos.objective` for weighted ghost batches); ``criterion.correct(outputs, labels)``
    the per-example 0/1 correctness and ``criterion.accuracy`` its mean.
    """

    name: str
    per_example: Callable[[jax.Array, jax.Array], jax.Array]
    correct: Callable[[jax.Array, jax.Array], jax.Array]
    binary: bool

    def __call__(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
        return jnp.mean(self.per_example(outputs, labels))

    def accuracy(self, outputs: jax.Array, labels: jax.Array) -> jax.Array:
        return jnp.mean(self.correct(outputs, labels))

    def check_num_classes(self, num_classes: int) -> None:
        """Raise ``ValueError`` unless this criterion fits ``num_classes`` (1 = binary ±1)."""
        if self.binary and num_classes != 1:
            raise ValueError(
                f"criterion {self.name!r} needs a binary task with ±1 labels (num_classes=1), "
                f"got num_classes={num_classes}; use 'mse' or 'cross_entropy' for "
                f"{num_classes} classes"
            )
        if not self.binary and num_classes < 2:
            raise ValueError(
                f"criterion {self.name!r} needs integer labels of num_classes >= 2 classes, "
                f"got num_classes={num_classes} (a binary ±1 task); use 'mse' or 'logistic'"
            )


CATEGORICAL_MSE = Criterion(
    "categorical_mse", per_example_categorical_mse, per_example_categorical_correct, False
)
BINARY_MSE = Criterion("binary_mse", per_example_binary_mse, per_example_binary_correct, True)
CROSS_ENTROPY = Criterion(
    "cross_entropy", per_example_cross_entropy, per_example_categorical_correct, False
)
LOGISTIC = Criterion("logistic", per_example_logistic, per_example_binary_correct, True)


def _per_example_mse(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    outputs = jnp.asarray(outputs)
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return per_example_binary_mse(outputs, labels)
    return per_example_categorical_mse(outputs, labels)


def _per_example_mse_correct(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    outputs = jnp.asarray(outputs)
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return per_example_binary_correct(outputs, labels)
    return per_example_categorical_correct(outputs, labels)


# "mse" with num_classes unknown: binary or categorical decided from the output width.
_MSE_BY_OUTPUT_WIDTH = Criterion("mse", _per_example_mse, _per_example_mse_correct, False)

#: Valid names for :func:`get` (aliases map to the same criterion).
CRITERIA: tuple[str, ...] = (
    "mse",
    "categorical_mse",
    "binary_mse",
    "cross_entropy",
    "ce",
    "logistic",
)


def get(name: str, *, num_classes: int | None = None) -> Criterion:
    """The criterion called ``name``, checked against ``num_classes`` when given.

    ``"mse"`` is the categorical MSE for ``num_classes >= 2`` and the binary MSE for
    ``num_classes == 1`` (a ``±1`` task); with ``num_classes=None`` it decides from the
    width of the outputs at call time. ``"cross_entropy"`` (alias ``"ce"``) needs
    ``num_classes >= 2``; ``"logistic"`` needs ``num_classes == 1``.
    """
    if not isinstance(name, str) or name.lower() not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}; valid names are {', '.join(CRITERIA)}")
    name = name.lower()
    if num_classes is not None:
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        num_classes = int(num_classes)
    if name == "mse":
        if num_classes is None:
            return _MSE_BY_OUTPUT_WIDTH
        crit = BINARY_MSE if num_classes == 1 else CATEGORICAL_MSE
    else:
        crit = {
            "categorical_mse": CATEGORICAL_MSE,
            "binary_mse": BINARY_MSE,
            "cross_entropy": CROSS_ENTROPY,
            "ce": CROSS_ENTROPY,
            "logistic": LOGISTIC,
        }[name]
    if num_classes is not None:
        crit.check_num_classes(num_classes)
    return crit
