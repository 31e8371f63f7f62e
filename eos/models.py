"""The four architectures of App. D.1, in ``flax.linen``.

* :class:`MLP` and :class:`CNN` are the 3-layer networks of Cohen et al. (2021) used by the
  paper (width 200 and width 32, swish activations). Both use PyTorch's default weight
  initialisation, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (variance ``1/(3 fan_in)``), and zero
  biases, as the paper's code does. (With flax's LeCun-normal default, variance
  ``1/fan_in``, the 1,000-image MLP diverges at ``eta = 0.02`` under the unhalved
  categorical MSE; see ``shared/design/algorithms.md``.)
* :class:`ResNet18`: CIFAR stem (3x3 conv, stride 1, no max-pool), four stages of two basic
  blocks with progressive widths 16, 32, 64, 128 (strides 1, 2, 2, 2; 1x1 projection
  shortcuts when the shape changes), GroupNorm (16 groups), swish, global average pooling,
  zero-initialised final Dense layer. Convolutions have no bias and flax's default
  (LeCun-normal) initialisation, as in the paper's code.
* :class:`Transformer`: token and learned position embeddings (hidden size 64), two
  post-LayerNorm layers of 2-head self-attention and a 64-wide swish MLP with residual
  connections, mean pooling over the non-padding tokens, zero-initialised head. Padding
  (token id 0) is masked in attention and in pooling.

All modules compute in the dtype of their parameters and inputs (``dtype=None``), so the same
module runs in float32 and float64. The convolutional modules take ``conv``, the lowering of
their convolutions: ``"matmul"`` (default; im2col and one matrix multiply, whose derivatives
stay fast inside loops, :mod:`eos.convolution`) or ``"xla"`` (XLA's convolution, the
reference). :func:`build` constructs a model by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from eos.convolution import LOWERINGS, lowering

__all__ = ["CNN", "MLP", "MODELS", "ResNet18", "Transformer", "build", "check_kwargs",
           "torch_init"]  # fmt: skip

#: PyTorch's default weight initialisation: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
torch_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


class MLP(nn.Module):
    """Flatten, ``Dense(width)``, swish, ``Dense(width)``, swish, ``Dense(num_classes)``.

    656,810 parameters for CIFAR-10 inputs (3,072 features) and 10 outputs.
    """

    num_classes: int
    width: int = 200
    depth: int = 2  # number of hidden layers

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        for _ in range(self.depth):
            x = nn.Dense(self.width, kernel_init=torch_init, bias_init=nn.initializers.zeros)(x)
            x = nn.swish(x)
        return nn.Dense(self.num_classes, kernel_init=torch_init, bias_init=nn.initializers.zeros)(
            x
        )


class CNN(nn.Module):
    """conv3x3(width) [SAME], swish, avg-pool 2, conv3x3(width), swish, avg-pool 2, flatten,
    ``Dense(num_classes)``; 30,634 parameters for 32x32x3 inputs and 10 outputs.
    """

    num_classes: int
    width: int = 32
    conv: str = "matmul"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"CNN expects NHWC images (B, H, W, C), got shape {x.shape}")
        for _ in range(2):
            x = nn.Conv(
                self.width,
                (3, 3),
                padding="SAME",
                kernel_init=torch_init,
                bias_init=nn.initializers.zeros,
                conv_general_dilated=lowering(self.conv),
            )(x)
            x = nn.swish(x)
            x = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes, kernel_init=torch_init, bias_init=nn.initializers.zeros)(
            x
        )


def _group_norm(channels: int, num_groups: int) -> nn.GroupNorm:
    """GroupNorm with ``gcd(num_groups, channels)`` groups: 16 for the paper's widths, and a
    valid grouping for reduced widths (e.g. 8 channels -> 8 groups)."""
    return nn.GroupNorm(num_groups=math.gcd(num_groups, channels))


class _BasicBlock(nn.Module):
    """``swish(GN(conv3x3(swish(GN(conv3x3_s(x))))) + shortcut(x))``; the shortcut is the
    identity, or ``GN(conv1x1_s(x))`` when the stride or the width changes."""

    width: int
    strides: int
    num_groups: int
    conv: str = "matmul"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s, pad, f = (self.strides, self.strides), ((1, 1), (1, 1)), lowering(self.conv)
        y = nn.Conv(self.width, (3, 3), s, pad, use_bias=False, conv_general_dilated=f)(x)
        y = nn.swish(_group_norm(self.width, self.num_groups)(y))
        y = nn.Conv(self.width, (3, 3), padding=pad, use_bias=False, conv_general_dilated=f)(y)
        y = _group_norm(self.width, self.num_groups)(y)
        if x.shape[-1] != self.width or self.strides != 1:
            x = nn.Conv(self.width, (1, 1), s, use_bias=False, conv_general_dilated=f,
                        name="shortcut")(x)  # fmt: skip
            x = _group_norm(self.width, self.num_groups)(x)
        return nn.swish(y + x)


class ResNet18(nn.Module):
    """CIFAR ResNet18 with progressive widths (App. D.1): stem conv3x3(widths[0]) + GN + swish,
    then ``len(widths)`` stages of ``blocks_per_stage`` basic blocks (first block of each stage
    after the first has stride 2), global average pool, zero-initialised ``Dense``.

    ``widths`` and ``blocks_per_stage`` can be reduced for CPU profiles.
    """

    num_classes: int
    widths: Sequence[int] = (16, 32, 64, 128)
    blocks_per_stage: int = 2
    num_groups: int = 16
    conv: str = "matmul"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"ResNet18 expects NHWC images (B, H, W, C), got shape {x.shape}")
        w0 = self.widths[0]
        x = nn.Conv(w0, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="stem",
                    conv_general_dilated=lowering(self.conv))(x)  # fmt: skip
        x = nn.swish(_group_norm(w0, self.num_groups)(x))
        for i, width in enumerate(self.widths):
            for b in range(self.blocks_per_stage):
                strides = 2 if (i > 0 and b == 0) else 1
                block = _BasicBlock(width, strides, self.num_groups, self.conv,
                                    name=f"stage{i}_block{b}")  # fmt: skip
                x = block(x)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(
            self.num_classes,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.zeros,
            name="head",
        )(x)


class _TransformerLayer(nn.Module):
    """Post-LayerNorm layer: ``h = LN(h + MHA(h))``, ``h = LN(h + W2 swish(W1 h))``."""

    hidden_size: int
    num_heads: int
    mlp_size: int

    @nn.compact
    def __call__(self, h: jax.Array, attn_mask: jax.Array) -> jax.Array:
        attn = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attention")
        h = nn.LayerNorm()(h + attn(h, h, mask=attn_mask))
        y = nn.Dense(self.mlp_size)(h)
        y = nn.Dense(self.hidden_size)(nn.swish(y))
        return nn.LayerNorm()(h + y)


class Transformer(nn.Module):
    """Token ids ``(B, T)`` (pad id 0) -> ``(B, num_classes)`` (App. D.1: 2 layers, hidden 64,
    2 heads). Padding is excluded from attention keys and from the mean pooling."""

    num_classes: int
    vocab_size: int
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    mlp_size: int = 64
    max_len: int = 64
    pad_id: int = 0

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise ValueError(
                f"Transformer expects integer token ids of shape (B, T), got {tokens.dtype} "
                f"array of shape {tokens.shape}"
            )
        T = tokens.shape[1]
        if T > self.max_len:
            raise ValueError(
                f"sequence length {T} exceeds the Transformer's max_len={self.max_len} "
                "position embeddings; build it with a larger max_len"
            )
        mask = tokens != self.pad_id  # (B, T)
        h = nn.Embed(self.vocab_size, self.hidden_size, name="token_embedding")(tokens)
        pos = nn.Embed(self.max_len, self.hidden_size, name="position_embedding")(
            jnp.arange(T)[None, :]
        )
        h = h + pos
        attn_mask = nn.make_attention_mask(mask, mask)  # (B, 1, T, T)
        for i in range(self.num_layers):
            h = _TransformerLayer(
                self.hidden_size, self.num_heads, self.mlp_size, name=f"layer{i}"
            )(h, attn_mask)
        m = mask.astype(h.dtype)[..., None]
        pooled = jnp.sum(h * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)
        return nn.Dense(
            self.num_classes,
            kernel_init=nn.initializers.zeros,
            bias_init=nn.initializers.zeros,
            name="head",
        )(pooled)


MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "cnn": CNN,
    "resnet18": ResNet18,
    "transformer": Transformer,
}


#: Smallest value of each integer size keyword (all models): a width of 0 has no neurons.
_MINIMUM = {"width": 1, "depth": 1, "blocks_per_stage": 1, "num_groups": 1, "vocab_size": 2,
            "hidden_size": 1, "num_layers": 1, "num_heads": 1, "mlp_size": 1, "max_len": 1,
            "pad_id": 0}  # fmt: skip


def check_kwargs(name: str, kw: dict) -> None:
    """``ValueError`` naming the keyword unless ``kw`` are valid sizes for model ``name``:
    unknown keywords, sizes below :data:`_MINIMUM`, empty or non-positive ``widths``, a
    Transformer whose ``hidden_size`` is not a multiple of ``num_heads`` or whose ``pad_id``
    is not a token id."""
    from eos import validate

    cls = MODELS[name]
    fields = set(cls.__dataclass_fields__) - {"parent", "name", "num_classes"}
    unknown = set(kw) - fields
    if unknown:
        raise ValueError(
            f"unknown keyword(s) {sorted(unknown)} for model {name!r}; valid: {sorted(fields)}"
        )
    for key, value in kw.items():
        if key in _MINIMUM:
            validate.positive_int(value, f"model_kwargs[{key!r}]", minimum=_MINIMUM[key])
    if "conv" in kw and kw["conv"] not in LOWERINGS:
        raise ValueError(
            f"model_kwargs['conv'] must be one of {', '.join(LOWERINGS)}, got {kw['conv']!r}"
        )
    if "widths" in kw:
        widths = kw["widths"]
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
            raise ValueError(f"model_kwargs['widths'] must be a non-empty list, got {widths!r}")
        for w in widths:
            validate.positive_int(w, "model_kwargs['widths'] entries")
    if name == "transformer":
        full = {f: getattr(cls, f, None) for f in fields} | dict(kw)
        if full["hidden_size"] % full["num_heads"]:
            raise ValueError(
                f"model_kwargs['hidden_size']={full['hidden_size']} must be a multiple of "
                f"num_heads={full['num_heads']} (each head gets hidden_size/num_heads features)"
            )
        if full["vocab_size"] is not None and full["pad_id"] >= full["vocab_size"]:
            raise ValueError(
                f"model_kwargs['pad_id']={full['pad_id']} must be a token id < vocab_size="
                f"{full['vocab_size']}"
            )


def build(name: str, *, num_classes: int, **kw) -> nn.Module:
    """The architecture ``name`` (one of :data:`MODELS`) with ``num_classes`` outputs.

    Keyword arguments go to the module: ``width`` (MLP, CNN), ``depth`` (MLP), ``widths`` and
    ``blocks_per_stage`` (ResNet18), ``conv`` (CNN, ResNet18: ``"matmul"`` or ``"xla"``),
    ``vocab_size`` (required), ``hidden_size``,
    ``num_layers``, ``num_heads``, ``mlp_size``, ``max_len`` (Transformer).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are {', '.join(MODELS)}")
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    cls = MODELS[key]
    check_kwargs(key, kw)
    if key == "transformer" and "vocab_size" not in kw:
        raise ValueError(
            "model 'transformer' needs vocab_size= (e.g. dataset.metadata['vocab_size'])"
        )
    if "widths" in kw:
        kw["widths"] = tuple(int(w) for w in kw["widths"])
    return cls(num_classes=int(num_classes), **kw)
