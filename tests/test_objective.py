"""eos.objective against independent computations: a loss written out here with jax.hessian,
numpy forward passes, finite differences, an analytic toy function, and chunked vs full batch
(ghost batching) in float64."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import eos  # noqa: F401  (enables float64)
from eos import models, objective
from eos.data import Dataset

RNG = np.random.default_rng(0)


def _images(n, hw, classes, binary=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, hw, hw, 3)).astype(np.float32)
    y = rng.choice([-1, 1], size=n) if binary else rng.integers(0, classes, size=n)
    return Dataset(x, y.astype(np.int32), 1 if binary else classes, "synthetic")


def _tokens(n=10, T=5, vocab=11, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, size=(n, T)).astype(np.int32)
    lengths = rng.integers(1, T + 1, size=n)
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0  # padding
    y = rng.choice([-1, 1], size=n).astype(np.int32)
    return Dataset(ids, y, 1, "synthetic-tokens", {"vocab_size": vocab, "pad_id": 0})


CLS = _images(13, 4, 3)
BIN = _images(9, 8, 1, binary=True, seed=2)
TOK = _tokens()
TR_KW = dict(hidden_size=8, num_heads=2, mlp_size=8, num_layers=1)

CONFIGS = {
    "mlp-mse": ("mlp", CLS, "mse", {"width": 6}),
    "cnn-logistic": ("cnn", BIN, "logistic", {"width": 3}),
    "transformer-mse": ("transformer", TOK, "mse", TR_KW),
}


@pytest.fixture(scope="module")
def pairs():
    """(full-batch objective, chunked objective with chunk 4, p0) per configuration."""
    out = {}
    for key, (model, ds, crit, kw) in CONFIGS.items():
        full, p0 = objective.build(model, ds, crit, **kw)
        chunked, p0c = objective.build(model, ds, crit, chunk_size=4, **kw)
        np.testing.assert_array_equal(np.asarray(p0), np.asarray(p0c))
        out[key] = (full, chunked, p0)
    return out


def _random(p, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=p.shape), dtype=p.dtype)


CHECKS = {
    "value": lambda o, p, u, w: o.value(p),
    "grad": lambda o, p, u, w: o.grad(p),
    "hvp": lambda o, p, u, w: o.hvp(p, u),
    "D3(u,u)": lambda o, p, u, w: o.D(p, 3, u, u),
    "accuracy": lambda o, p, u, w: o.accuracy(p),
    "value_and_grad": lambda o, p, u, w: jnp.concatenate(
        [o.value_and_grad(p)[0][None], o.value_and_grad(p)[1]]
    ),
    "hvp(d,2)": lambda o, p, u, w: o.hvp(p, jnp.stack([u, w], axis=1)),
    "D4(u,u,u)": lambda o, p, u, w: o.D(p, 4, u, u, u),
    "fn": lambda o, p, u, w: o.fn(p),
    "grad fn": lambda o, p, u, w: jax.grad(o.fn)(p),
    "hvp fn": lambda o, p, u, w: jax.jvp(jax.grad(o.fn), (p,), (u,))[1],
    "line": lambda o, p, u, w: jnp.stack(objective.line_derivatives(o.value, p, u)),
}
CHECKED = {
    # D4 is checked against finite differences below; "grad fn" is inside "hvp fn"
    "mlp-mse": [k for k in CHECKS if k not in ("D4(u,u,u)", "grad fn")],
    "cnn-logistic": ["value", "grad", "hvp", "D3(u,u)", "accuracy", "grad fn"],
    "transformer-mse": ["value", "grad", "accuracy"],  # compile time: hvp/D3 on MLP and CNN
}


@pytest.mark.parametrize("key", list(CONFIGS))
def test_chunked_equals_full_batch_float64(pairs, key):
    """Every quantity of the chunked objective (chunk 4, last chunk padded) equals the full
    batch in float64. The methods are called under one outer jit per objective (as the
    dynamics engine does), which inlines their jitted kernels and keeps compile time low."""
    full, chunked, p0 = pairs[key]
    p = p0.astype(jnp.float64) + 0.1 * _random(p0, 3).astype(jnp.float64)
    u, w = _random(p, 4), _random(p, 5)
    names = CHECKED[key]

    def run(o):
        return jax.jit(lambda p, u, w: [CHECKS[k](o, p, u, w) for k in names])(p, u, w)

    for name, a, b in zip(names, run(full), run(chunked)):
        assert a.dtype == b.dtype == jnp.float64, name
        scale = max(1.0, float(jnp.max(jnp.abs(a))))
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-10 * scale, name
    # the forward-over-forward line derivatives against the reverse-mode gradient and HVP
    if "line" in names:
        line = dict(zip(names, run(chunked)))["line"]
        ref = jnp.stack([full.value(p), full.grad(p) @ u, u @ full.hvp(p, u)])
        np.testing.assert_allclose(line, ref, rtol=1e-10)
    # and called directly (the compiled kernels, not inlined)
    for name in ("hvp",) if key == "mlp-mse" else ():
        a, b = CHECKS[name](full, p, u, w), CHECKS[name](chunked, p, u, w)
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-10 * max(1.0, float(jnp.max(jnp.abs(a))))


def _reference_loss(model_name, ds, kw):
    """Categorical MSE loss of p written out independently of eos.objective."""
    module = models.build(model_name, num_classes=ds.num_classes, **kw)
    params = module.init(jax.random.PRNGKey(0), jnp.asarray(ds.inputs[:1]))
    p_ref, unravel = ravel_pytree(params)
    x = jnp.asarray(ds.inputs, dtype=jnp.float64)
    onehot = jnp.asarray(np.eye(ds.num_classes)[ds.labels])

    def loss(p):
        tree = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), unravel(p))
        out = module.apply(tree, x)
        return jnp.mean(jnp.sum((out - onehot) ** 2, axis=1))

    return loss, p_ref, params


def test_full_batch_against_independent_derivatives(pairs):
    full, _, p0 = pairs["mlp-mse"]
    ref, p_ref, _ = _reference_loss("mlp", CLS, {"width": 6})
    np.testing.assert_array_equal(np.asarray(p0), np.asarray(p_ref))  # seed 0, float32
    p = p0.astype(jnp.float64) + 0.1 * _random(p0, 6).astype(jnp.float64)
    u, v = _random(p, 7), _random(p, 8)
    u = u / jnp.linalg.norm(u)
    hessian = jax.jit(jax.hessian(ref))
    H = hessian(p)
    assert float(full.value(p)) == pytest.approx(float(ref(p)), rel=1e-13)
    np.testing.assert_allclose(full.grad(p), jax.grad(ref)(p), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(full.hvp(p, v), H @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(full.D(p, 2), H, rtol=1e-10, atol=1e-12)
    # third derivative: central difference of the Hessian along u (error O(eps^2))
    eps = 1e-4
    dH = (hessian(p + eps * u) - hessian(p - eps * u)) / (2 * eps)
    np.testing.assert_allclose(full.D(p, 3, u), dH, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(full.D(p, 3, u, u), dH @ u, rtol=1e-6, atol=1e-7)
    assert float(full.D(p, 3, u, u, v)) == pytest.approx(float(v @ dH @ u), rel=1e-6)
    # fourth derivative: second central difference of q(p) = u^T H(p) u
    q = lambda x: u @ hessian(x) @ u  # noqa: E731
    eps = 1e-3
    d4 = (q(p + eps * u) - 2 * q(p) + q(p - eps * u)) / eps**2
    assert float(full.D(p, 4, u, u, u, u)) == pytest.approx(float(d4), rel=1e-5)


def _numpy_mlp_value(ds, params, dtype):
    """Categorical MSE of the width-6 MLP, forward pass in numpy."""
    x = np.asarray(ds.inputs, dtype=dtype).reshape(len(ds), -1)
    P = params["params"]
    swish = lambda z: z / (1 + np.exp(-z))  # noqa: E731
    h = x
    for name in ("Dense_0", "Dense_1"):
        h = swish(h @ np.asarray(P[name]["kernel"], dtype) + np.asarray(P[name]["bias"], dtype))
    out = h @ np.asarray(P["Dense_2"]["kernel"], dtype) + np.asarray(P["Dense_2"]["bias"], dtype)
    return np.mean(np.sum((out - np.eye(3)[ds.labels]) ** 2, axis=1))


def test_float32_and_float64(pairs):
    full, chunked, p0 = pairs["mlp-mse"]
    _, _, params = _reference_loss("mlp", CLS, {"width": 6})
    assert p0.dtype == jnp.float32
    exact = _numpy_mlp_value(CLS, params, np.float64)
    for o in (full, chunked):
        v32, g32 = o.value_and_grad(p0)
        assert v32.dtype == g32.dtype == o.hvp(p0, g32).dtype == jnp.float32
        assert o.D(p0, 3, g32, g32).dtype == jnp.float32
        p64 = p0.astype(jnp.float64)  # the switch after instability: one cast
        v64 = o.value(p64)
        assert v64.dtype == o.grad(p64).dtype == o.hvp(p64, p64).dtype == jnp.float64
        assert float(v64) == pytest.approx(exact, rel=1e-13)
        assert float(v32) == pytest.approx(exact, rel=1e-5)
        assert o.unravel(p64)["params"]["Dense_0"]["kernel"].dtype == jnp.float64
        # round trip of the flat layout
        np.testing.assert_array_equal(np.asarray(ravel_pytree(o.unravel(p64))[0]), p64)


def _toy():
    a = jnp.array([0.5, -1.0, 2.0, 0.3, 1.5], dtype=jnp.float64)
    b = jnp.array([1.0, 0.2, -0.4, 0.0, 0.7], dtype=jnp.float64)

    def f(p):
        return jnp.sum(a * p**4) / 4 + 0.5 * jnp.dot(b, p) ** 2

    return f, a, b


def test_from_function_exact_derivatives():
    f, a, b = _toy()
    obj = objective.Objective.from_function(f, num_params=5)
    p = jnp.array([0.3, -0.7, 1.1, 0.2, -0.5], dtype=jnp.float64)
    u, v, w, z = (_random(p, s) for s in range(4))
    grad = a * p**3 + b * (b @ p)
    H = jnp.diag(3 * a * p**2) + jnp.outer(b, b)
    T3 = jnp.zeros((5, 5, 5)).at[jnp.arange(5), jnp.arange(5), jnp.arange(5)].set(6 * a * p)
    T4 = (
        jnp.zeros((5, 5, 5, 5))
        .at[jnp.arange(5), jnp.arange(5), jnp.arange(5), jnp.arange(5)]
        .set(6 * a)
    )
    assert float(obj.value(p)) == pytest.approx(float(f(p)), rel=1e-15)
    np.testing.assert_allclose(obj.grad(p), grad, rtol=1e-14)
    np.testing.assert_allclose(obj.value_and_grad(p)[1], grad, rtol=1e-14)
    np.testing.assert_allclose(obj.hvp(p, u), H @ u, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(obj.D(p, 2), H, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(obj.D(p, 3), T3, atol=1e-13)
    np.testing.assert_allclose(obj.D(p, 3, u), T3 @ u, atol=1e-13)
    np.testing.assert_allclose(obj.D(p, 3, u, v), jnp.einsum("ijk,i,j->k", T3, u, v), atol=1e-13)
    assert float(obj.D(p, 3, u, v, w)) == pytest.approx(
        float(jnp.einsum("ijk,i,j,k->", T3, u, v, w)), rel=1e-13
    )
    np.testing.assert_allclose(obj.D(p, 4, u, v), jnp.einsum("ijkl,i,j->kl", T4, u, v), atol=1e-13)
    assert float(obj.D(p, 4, u, v, w, z)) == pytest.approx(
        float(jnp.einsum("ijkl,i,j,k,l->", T4, u, v, w, z)), rel=1e-13
    )
    np.testing.assert_allclose(obj.D(p, 1, u), grad @ u, rtol=1e-14)
    # the line derivatives (forward-over-forward) against the closed forms
    value, slope, curvature = objective.line_derivatives(obj.value, p, u)
    assert float(value) == pytest.approx(float(f(p)), rel=1e-15)
    assert float(slope) == pytest.approx(float(grad @ u), rel=1e-13)
    assert float(curvature) == pytest.approx(float(u @ H @ u), rel=1e-13)
    assert obj.num_params == 5 and bool(jnp.isnan(obj.accuracy(p)))
    assert obj.fn is not None and float(obj.fn(p)) == pytest.approx(float(f(p)))
    # float32 input -> float32 results
    assert obj.hvp(p.astype(jnp.float32), u).dtype == jnp.float32
    with pytest.raises(ValueError, match="evaluate needs"):
        obj.evaluate(p, CLS)


def test_ghost_batching_bounds_memory():
    """Compiled temporary memory of chunked grad/hvp (methods and via fn) is a fraction of the
    full batch's: each chunk is differentiated on its own, not by reversing the scan."""
    ds = _images(512, 4, 10, seed=9)
    full, p0 = objective.build("mlp", ds, "mse", width=64)
    chunked, _ = objective.build("mlp", ds, "mse", width=64, chunk_size=64)
    u = jnp.ones_like(p0)

    def temp(o):
        fn_hvp = jax.jit(lambda p: jax.jvp(jax.grad(o.fn), (p,), (u,))[1])
        sizes = []
        for f, args in [
            (o._grad, (p0, o._data)),
            (o._hvp, (p0, u, o._data)),
            (fn_hvp, (p0,)),  # reverse (custom JVP rule) then forward through fn
        ]:
            m = f.lower(*args).compile().memory_analysis()
            if m is None:
                pytest.skip("memory_analysis unavailable on this backend")
            sizes.append(m.temp_size_in_bytes)
        return np.array(sizes)

    assert np.all(temp(chunked) < temp(full) / 3)


def test_evaluate_matches_objective_on_held_out():
    train = CLS
    test = _images(7, 4, 3, seed=12)
    obj, p0 = objective.build("mlp", train, "mse", width=6, chunk_size=3)
    ref, _ = objective.build("mlp", test, "mse", width=6)
    p = p0 + 0.3 * _random(p0, 13)
    res = obj.evaluate(p, test)
    assert float(res["loss"]) == pytest.approx(float(ref.value(p)), rel=1e-6)
    assert float(res["accuracy"]) == pytest.approx(float(ref.accuracy(p)), abs=1e-6)
    # accuracy by hand from the outputs
    out = np.asarray(obj.outputs(p, test.inputs))
    assert float(res["accuracy"]) == pytest.approx(np.mean(out.argmax(1) == test.labels), abs=1e-6)
    # preprocessing must match the training set's
    tok, tok_other = (
        Dataset(TOK.inputs, TOK.labels, 1, "t", {**TOK.metadata, "vocab": vocab})
        for vocab in (("<pad>", "<unk>", "a"), ("<pad>", "<unk>", "b"))
    )
    tr, _ = objective.build("transformer", tok, "logistic", **TR_KW)
    with pytest.raises(ValueError, match="different 'vocab'"):
        tr.evaluate(p0, tok_other)
    with pytest.raises(ValueError, match="num_classes=1"):
        obj.evaluate(p, TOK)


def test_jit_compiles_once_per_dtype(pairs):
    _, chunked, p0 = pairs["mlp-mse"]
    u = _random(p0, 1)
    chunked.hvp(p0, u)
    before = chunked._hvp._cache_size()
    for _ in range(3):
        chunked.hvp(p0, u)
        chunked.hvp(p0 * 2, u * 3)
        chunked.hvp(p0.astype(jnp.float64), u)  # v is cast to the dtype of p
    chunked.hvp(p0.astype(jnp.float64), u.astype(jnp.float64))
    assert chunked._hvp._cache_size() == before  # float64 compiled by the chunked test


@pytest.mark.parametrize("chunk_size", [None, 64])
def test_jit_passes_the_data_as_an_argument(chunk_size, monkeypatch):
    """Objective.jit compiles a program that calls the objective's methods with the data set
    as an argument: the same numbers as the methods, the data are not inlined as constants
    (a plain jitted closure inlines them), and with_data really evaluates on the given data.
    Data sets up to INLINE_DATA_BYTES stay inlined."""
    monkeypatch.setattr(objective, "INLINE_DATA_BYTES", 0)
    ds = _images(256, 4, 3, seed=21)
    obj, p0 = objective.build("mlp", ds, "mse", width=8, chunk_size=chunk_size)
    p = p0.astype(jnp.float64) + 0.1 * _random(p0, 22).astype(jnp.float64)
    u = _random(p, 23)

    body = lambda o, p, u: (o.value_and_grad(p), o.hvp(p, u), o.D(p, 3, u, u))  # noqa: E731
    step = obj.jit(body)
    got, want = step(p, u), body(obj, p, u)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)

    closure = jax.jit(lambda p, u: body(obj, p, u))
    inlined = closure.lower(p, u).as_text()
    passed = step.lower(p, u).as_text()
    # inlined, the 256 x 48 float32 inputs are a literal of the program text; passed, they are
    # an argument of its entry point
    assert len(inlined) - len(passed) > ds.inputs.nbytes
    shape = "x".join(map(str, obj._data["x"].shape))
    main = [line for line in passed.splitlines() if "func.func public @main" in line]
    assert len(main) == 1 and f"tensor<{shape}xf64>" in main[0]  # cast once, outside
    assert f"tensor<{shape}x" not in next(
        line for line in inlined.splitlines() if "func.func public @main" in line
    )
    monkeypatch.setattr(objective, "INLINE_DATA_BYTES", 1 << 20)  # the default: inlined
    small = obj.jit(body).lower(p, u).as_text()
    assert len(small) - len(passed) > ds.inputs.nbytes

    other = _images(256, 4, 3, seed=24)
    ref, _ = objective.build("mlp", other, "mse", width=8, chunk_size=chunk_size)
    rebound = obj.with_data(ref._data)
    assert float(rebound.value(p)) == pytest.approx(float(ref.value(p)), rel=1e-12)
    assert float(rebound.value(p)) != pytest.approx(float(obj.value(p)), rel=1e-3)
    assert float(rebound.fn(p)) == pytest.approx(float(ref.value(p)), rel=1e-12)


def test_build_errors():
    with pytest.raises(ValueError, match="logistic.*num_classes=3"):
        objective.build("mlp", CLS, "logistic")
    with pytest.raises(ValueError, match="unknown criterion"):
        objective.build("mlp", CLS, "hinge")
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        objective.build("vgg", CLS, "mse")
    with pytest.raises(ValueError, match="chunk_size"):
        objective.build("mlp", CLS, "mse", chunk_size=0)
    bad = Dataset(BIN.inputs, np.zeros(len(BIN), np.int32), 1, "bad")
    with pytest.raises(ValueError, match="labels other than ±1"):
        objective.build("cnn", bad, "logistic")
    with pytest.raises(TypeError, match="Dataset"):
        objective.build("mlp", (CLS.inputs, CLS.labels), "mse")
    f, _, _ = _toy()
    obj = objective.Objective.from_function(f)
    p = jnp.ones(5)
    with pytest.raises(ValueError, match="order must be an integer in 1..4"):
        obj.D(p, 5)
    with pytest.raises(ValueError, match="at most order=2"):
        obj.D(p, 2, p, p, p)


def test_p0_is_float32_with_num_params():
    obj, p0 = objective.build("transformer", TOK, "logistic", **TR_KW)
    assert p0.dtype == jnp.float32 and p0.ndim == 1 and obj.num_params == p0.size
    h, V, T = 8, 11, 64
    assert obj.num_params == V * h + T * h + (4 * (h * h + h) + 4 * h + 2 * (h * h + h)) + h + 1
    assert math.isclose(float(obj.accuracy(p0)), np.mean(TOK.labels == -1), abs_tol=1e-6)
