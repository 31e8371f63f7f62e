r"""Convolutions lowered to one matrix multiply (im2col), so that their derivatives stay fast
inside loops.

The models' 2-D convolutions (App. D.1: the CNN and ResNet18, NHWC inputs, HWIO kernels) are

.. math::

    y_{n i j o} = \sum_{a, b, c} \bar x_{n,\, s i + a,\, s j + b,\, c}\; w_{a b c o},

with :math:`\bar x` the zero-padded input and :math:`s` the stride. :func:`conv_matmul`
computes exactly this sum as one matrix multiply: the ``k_h k_w`` strided windows of
:math:`\bar x` are concatenated along the channels into ``(N H' W', k_h k_w C_in)`` patches
and multiplied by the kernel reshaped to ``(k_h k_w C_in, C_out)``. Its derivatives, which
every gradient, Hessian-vector product (App. D.3) and third derivative takes, are pads,
slices, concatenations and matrix multiplies.

Why not XLA's convolution. On XLA:CPU the pass that rewrites a convolution into the layout
its fast kernels accept (``ConvCanonicalization``) visits only a program's entry computation.
The transposes JAX derives for a convolution's gradient (kernel gradient ``f01b_i01o->01bf``)
are not in that layout, so inside a ``while`` loop (every HVP of the Lanczos solver
:mod:`eos.curvature.lanczos`, every step of the jitted GD scan, every ghost batch of
:mod:`eos.objective`) they are emitted as naive loops. Measured on the 2-core CPU
(paper CNN's two layers, 250 images, float64): gradient 0.17 s at the top level against 4.7 s
inside a loop with XLA's convolution; 0.18 s and 0.15 s with this lowering; HVP 0.29 s
against 8.4 s, and 0.37 s against 0.33 s. The lowering is the default of the models
(``conv="matmul"``); ``conv="xla"`` keeps :func:`jax.lax.conv_general_dilated` as the
reference (``tests/test_convolution.py`` compares the two: values, gradients and HVPs agree
to rounding).

Cost. The patches are ``k_h k_w`` times the input: a compiled block HVP of the paper's
ResNet18 (8 vectors, 25 images, float64) needs 3.1 GB of temporaries against XLA's 1.5 GB, which
the ghost batches (``chunk_size``) bound like any other per-example memory. At the top level of
a program, where XLA's convolution is canonicalised, a loss evaluation is slower (paper CNN,
250 images: 122 ms against 17 ms), but losses are rare in a tracked step and derivatives are not.

Supported: 2-D, NHWC / HWIO / NHWC, any strides, padding ``"SAME"``, ``"VALID"`` or explicit
pairs, no dilation, one feature group: the models' convolutions. Anything else raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["LOWERINGS", "conv_matmul", "lowering"]

#: The convolution lowerings a model accepts (its ``conv`` field).
LOWERINGS = ("matmul", "xla")

_NHWC = ("NHWC", "HWIO", "NHWC")


def _pads(
    x_shape: Sequence[int],
    k_shape: Sequence[int],
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
) -> list[tuple[int, int]]:
    """Explicit ``(low, high)`` padding of the two spatial axes."""
    if isinstance(padding, str):
        return list(lax.padtype_to_pads(x_shape[1:3], k_shape[:2], strides, padding))
    pads = [tuple(int(q) for q in pair) for pair in padding]
    if len(pads) != 2 or any(len(pair) != 2 for pair in pads):
        raise ValueError(f"conv_matmul: padding must be 2 (low, high) pairs, got {padding!r}")
    return pads


def _check(lhs: jax.Array, rhs: jax.Array, dims: Any, dilations: Sequence[Any], groups: int):
    if lhs.ndim != 4 or rhs.ndim != 4:
        raise ValueError(
            f"conv_matmul: 2-D convolutions only (4-D NHWC input, HWIO kernel), got shapes "
            f"{lhs.shape} and {rhs.shape}"
        )
    want = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
    if dims is not None and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dims) != want:
        raise ValueError(f"conv_matmul: layout NHWC/HWIO/NHWC only, got {dims!r}")
    for name, d in zip(("lhs_dilation", "rhs_dilation"), dilations, strict=True):
        if d is not None and any(int(q) != 1 for q in d):
            raise ValueError(f"conv_matmul: no dilation, got {name}={d!r}")
    if groups != 1:
        raise ValueError(f"conv_matmul: one feature group only, got {groups}")
    if lhs.shape[3] != rhs.shape[2]:
        raise ValueError(
            f"conv_matmul: input has {lhs.shape[3]} channels, kernel expects {rhs.shape[2]}"
        )


def conv_matmul(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
) -> jax.Array:
    """:func:`jax.lax.conv_general_dilated` for NHWC / HWIO / NHWC, computed as im2col patches
    times the reshaped kernel (one ``dot_general``); the signature flax's ``nn.Conv`` calls
    (its ``conv_general_dilated=`` argument). ``ValueError`` for what it does not support."""
    _check(lhs, rhs, dimension_numbers, (lhs_dilation, rhs_dilation), feature_group_count)
    kh, kw, cin, cout = rhs.shape
    sh, sw = (int(s) for s in window_strides)
    (ph, qh), (pw, qw) = _pads(lhs.shape, rhs.shape, (sh, sw), padding)
    x = jnp.pad(lhs, ((0, 0), (ph, qh), (pw, qw), (0, 0)))
    n, hp, wp, _ = x.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"conv_matmul: kernel {kh}x{kw} larger than the padded input {hp}x{wp}")
    windows = [
        lax.slice(x, (0, a, b, 0), (n, a + sh * (ho - 1) + 1, b + sw * (wo - 1) + 1, cin),
                  (1, sh, sw, 1))
        for a in range(kh)
        for b in range(kw)
    ]  # fmt: skip
    patches = windows[0] if len(windows) == 1 else jnp.concatenate(windows, axis=-1)
    out = lax.dot_general(
        patches.reshape(n * ho * wo, kh * kw * cin),
        rhs.reshape(kh * kw * cin, cout),
        (((1,), (0,)), ((), ())),
        precision=precision,
    )
    return out.reshape(n, ho, wo, cout)


def lowering(name: str) -> Any:
    """The ``conv_general_dilated`` function of lowering ``name`` (one of :data:`LOWERINGS`)."""
    if name == "matmul":
        return conv_matmul
    if name == "xla":
        return lax.conv_general_dilated
    raise ValueError(f"unknown convolution lowering {name!r}; valid: {', '.join(LOWERINGS)}")
