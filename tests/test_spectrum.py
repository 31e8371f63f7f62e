"""Top-k Hessian eigenvalue tracking along gradient descent (eos.spectrum).

Independent checks: a hand-written gradient-descent loop with dense ``jax.hessian`` +
``numpy.linalg.eigh`` on a tiny MLP in float64, closed forms on a quadratic for the
divergence detection, and hand-built records for the bookkeeping helpers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos.data import Dataset
from eos.objective import Objective, build
from eos.spectrum import (
    DivergenceError,
    GDRun,
    cached,
    crossing_steps,
    regime_windows,
    run_gd,
)


@pytest.fixture(scope="module")
def tiny_mlp():
    rng = np.random.default_rng(0)
    data = Dataset(
        inputs=rng.standard_normal((24, 3, 3, 1)).astype(np.float32),
        labels=rng.integers(0, 3, 24).astype(np.int32),
        num_classes=3,
        name="random",
    )
    objective, p0 = build("mlp", data, "mse", seed=1, width=5, depth=2)
    return objective, p0.astype(jnp.float64)


def test_top_k_tracking_matches_dense_eigh_along_gd(tiny_mlp):
    objective, p0 = tiny_mlp
    assert p0.size > 30  # more parameters than the Lanczos basis of a k = 4 solve
    lr, T, k = 0.05, 7, 4
    run = run_gd(objective, p0, lr=lr, steps=T, k=k, eig_every=2, tol=1e-10, max_iters=80)

    grad = jax.jit(jax.grad(objective.fn))
    hess = jax.jit(jax.hessian(objective.fn))
    p = p0
    losses, eig_steps, eigvals, xs = [], [], [], []
    for t in range(T):
        g = grad(p)
        losses.append(float(objective.fn(p)))
        if t % 2 == 0:
            w, V = np.linalg.eigh(np.asarray(hess(p)))
            w, V = w[::-1][:k], V[:, ::-1][:, :k]
            assert np.min(np.diff(-w)) > 1e-6 * w[0]  # simple eigenvalues: vectors are defined
            eig_steps.append(t)
            eigvals.append(w)
            xs.append(np.abs(V.T @ np.asarray(g)) / w)
        p = p - lr * g

    np.testing.assert_array_equal(run["step"], np.arange(T))
    np.testing.assert_allclose(run["loss"], losses, rtol=1e-10)
    np.testing.assert_allclose(run["lr"], np.full(T, lr))
    np.testing.assert_array_equal(run["eig_step"], eig_steps)
    np.testing.assert_allclose(run["eigvals"], eigvals, rtol=1e-8)
    np.testing.assert_allclose(np.abs(run["x"]), xs, rtol=1e-5, atol=1e-10)
    assert run["eig_converged"].all()
    np.testing.assert_allclose(run.params, p, rtol=1e-9, atol=1e-13)
    assert not run.diverged and run.meta["steps_done"] == T


def _quadratic(d=16):
    a = np.linspace(0.1, 4.0, d)
    aj = jnp.asarray(a)
    return Objective.from_function(lambda p: 0.5 * jnp.sum(aj * p**2), num_params=d), a


def test_divergence_is_recorded_at_the_closed_form_step():
    objective, a = _quadratic()
    p0 = np.full(a.size, 0.5)
    lr = 0.6  # 2/lr = 3.33 < 4 = S: the top mode grows like |1 - 4 lr|^t = 1.4^t
    max_loss = 50.0
    run = run_gd(objective, jnp.asarray(p0), lr=lr, steps=200, max_loss=max_loss, chunk=16)
    t = np.arange(200)[:, None]
    loss = 0.5 * np.sum(a * (1 - lr * a) ** (2 * t) * p0**2, axis=1)
    first = int(np.argmax(loss > max_loss))
    assert run.diverged and run.meta["diverged_at"] == first
    np.testing.assert_allclose(run["loss"], loss[: first + 1], rtol=1e-10)
    assert run["loss"][-1] > max_loss and run.meta["steps_done"] == first
    with pytest.raises(DivergenceError, match="diverged at step") as info:
        run_gd(objective, jnp.asarray(p0), lr=lr, steps=200, max_loss=max_loss, chunk=16,
               raise_on_divergence=True)  # fmt: skip
    assert info.value.run.meta["diverged_at"] == first
    # a stable learning rate does not trigger it
    ok = run_gd(objective, jnp.asarray(p0), lr=0.4, steps=40, max_loss=max_loss, chunk=16)
    assert not ok.diverged and ok.meta["steps_done"] == 40 and len(ok["loss"]) == 40
    np.testing.assert_allclose(ok.sharpness, np.full(40, 4.0), rtol=1e-6)


def _record(eigvals, lr=0.1):
    eigvals = np.asarray(eigvals, dtype=float)
    n = eigvals.shape[0]
    arrays = {"step": np.arange(n), "eig_step": np.arange(n) * 3, "eigvals": eigvals}
    return GDRun(arrays, {"lr": lr, "diverged": False})


def test_crossing_steps():
    ev = [[10, 5, 1], [19, 8, 2], [20, 12, 3], [21, 20.5, 4], [19, 19, 5]]
    run = _record(ev, lr=0.1)  # 2/lr = 20
    assert crossing_steps(run) == [6, 9, None]
    assert crossing_steps(run, threshold=4) == [0, 0, 9]
    with pytest.raises(ValueError, match="threshold"):
        crossing_steps(GDRun(run.arrays, {"lr": None}))


def test_regime_windows():
    thr = 10.0
    ev = np.array([[9, 1]] * 3 + [[11, 1]] * 4 + [[11, 12]] * 4 + [[11, 9]] * 2, dtype=float)
    # unstable counts per step: 0 0 0 1 1 1 1 2 2 2 2 1 1
    one, several = regime_windows(ev, thr, 3)
    np.testing.assert_array_equal(np.flatnonzero(one), [3, 4])
    np.testing.assert_array_equal(np.flatnonzero(several), [7, 8])
    x = np.array([0, 0, 0, 1e-6, 1e-5, 1e-4, 5e-3, 0.1, 0.2, 0.1, 0.1, 0.05, 0.02])
    one, several = regime_windows(ev, thr, 3, x=x, blown=0.01)
    # window [3, 6) peaks at 1e-4 < 1% of 0.2: still the exponential growth from rounding level
    np.testing.assert_array_equal(np.flatnonzero(one), [4])
    np.testing.assert_array_equal(np.flatnonzero(several), [7, 8])
    with pytest.raises(ValueError, match="window"):
        regime_windows(ev, thr, 20)


def test_cached_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_RESULTS_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        run = _record([[3.0, 1.0], [4.0, 2.0]])
        run.params = np.arange(5.0)
        run.meta["note"] = "x"
        return run

    a = cached("unit", {"n": 3}, compute)
    b = cached("unit", {"n": 3}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a["eigvals"], b["eigvals"])
    np.testing.assert_array_equal(b.params, np.arange(5.0))
    assert b.meta["note"] == "x"
    cached("unit", {"n": 4}, compute)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="name"):
        cached("a b", {}, compute)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(steps=0), "steps"),
        (dict(k=0), "k"),
        (dict(k=17), "k=17"),
        (dict(eig_every=0), "eig_every"),
        (dict(tol=0.0), "tol"),
        (dict(U0=np.ones((3, 1))), "U0"),
        (dict(metrics_every=5, chunk=4), "metrics_every"),
        (dict(lr=lambda t, s: 0.1), "schedule"),
    ],
)
def test_bad_arguments(kw, match):
    objective, a = _quadratic()
    args = dict(lr=0.1, steps=5)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        run_gd(objective, jnp.ones(a.size), **args)


def test_non_finite_start():
    objective, a = _quadratic()
    with pytest.raises(ValueError, match="not finite"):
        run_gd(objective, jnp.full(a.size, jnp.inf), lr=0.1, steps=3)
