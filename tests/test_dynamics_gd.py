"""The gradient-descent driver (eos.dynamics.run_gd) and its top-k Hessian eigenvalue recorder.

Independent checks: a hand-written gradient-descent loop with dense ``jax.hessian`` +
``numpy.linalg.eigh`` on a tiny MLP in float64, closed forms on a quadratic for the
divergence detection; checkpoints against a straight run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eos.dynamics
from eos.data import Dataset
from eos.dynamics import DivergenceError, Spectrum, gd, run_gd
from eos.dynamics.driver import GRADIENT
from eos.objective import Objective, build


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
    spectrum = Spectrum(k=k, every=2, tol=1e-10, max_iters=80)
    run = run_gd(objective, p0, lr=lr, steps=T, spectrum=spectrum)

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
    assert run.steps_done == T and run.stop_reason == "completed" and run.lr == lr
    # without the recorder: the same iterates, no eigen-solves
    plain = run_gd(objective, p0, lr=lr, steps=T, spectrum=None)
    np.testing.assert_array_equal(plain["loss"], run["loss"])
    np.testing.assert_array_equal(plain.params, run.params)
    assert "eigvals" not in plain and plain.meta["k"] == 0
    with pytest.raises(KeyError, match="available"):
        plain["eigvals"]


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
    assert run.diverged and run.meta["diverged_at"] == first and run.stop_reason == "diverged"
    np.testing.assert_allclose(run["loss"], loss[: first + 1], rtol=1e-10)
    assert run["loss"][-1] > max_loss and run.meta["steps_done"] == first
    with pytest.raises(DivergenceError, match="diverged at step") as info:
        run_gd(objective, jnp.asarray(p0), lr=lr, steps=200, max_loss=max_loss, chunk=16,
               raise_on_divergence=True)  # fmt: skip
    assert info.value.run.meta["diverged_at"] == first == info.value.step
    # a stable learning rate does not trigger it
    ok = run_gd(objective, jnp.asarray(p0), lr=0.4, steps=40, max_loss=max_loss, chunk=16)
    assert not ok.diverged and ok.meta["steps_done"] == 40 and len(ok["loss"]) == 40
    np.testing.assert_allclose(ok.sharpness, np.full(40, 4.0), rtol=1e-6)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(steps=0), "steps"),
        (dict(spectrum=Spectrum(k=17)), "k=17"),
        (dict(U0=np.ones((3, 1))), "U0"),
        (dict(chunk=0), "chunk"),
        (dict(metrics={"a": 3}), "metrics"),
        (dict(lr=lambda t, s: 0.1), "schedule"),
        (dict(max_loss=-1.0), "max_loss"),
        (dict(p0=jnp.ones((2, 8))), "p0"),
    ],
)
def test_bad_arguments(kw, match):
    objective, a = _quadratic()
    args = dict(p0=jnp.ones(a.size), lr=0.1, steps=5)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        run_gd(objective, **args)


@pytest.mark.parametrize(
    "kw, match",
    [(dict(k=0), "k"), (dict(every=0), "eig_every"), (dict(tol=0.0), "tol"),
     (dict(max_iters=1.5), "max_iters")],
)  # fmt: skip
def test_bad_spectrum(kw, match):
    with pytest.raises(ValueError, match=match):
        Spectrum(**kw)


def test_non_finite_start():
    objective, a = _quadratic()
    with pytest.raises(ValueError, match="not finite"):
        run_gd(objective, jnp.full(a.size, jnp.inf), lr=0.1, steps=3)


def test_divergence_error_is_one_class():
    """One DivergenceError for every driver: a ValueError (the learning rate is an argument),
    not a FloatingPointError, carrying the step and (here) the partial run."""
    assert eos.dynamics.DivergenceError is gd.DivergenceError is DivergenceError
    assert issubclass(DivergenceError, ValueError)
    assert not issubclass(DivergenceError, FloatingPointError)
    from eos.dynamics import driver

    assert driver.DivergenceError is DivergenceError
    err = DivergenceError("x", step=3)
    assert err.step == 3 and err.run is None


def test_update_is_gd_step():
    p, g = jnp.asarray([1.0, 2.0], jnp.float32), jnp.asarray([0.5, -1.0], jnp.float32)
    out = gd.gd_step(g, p, 0.1)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, p - jnp.float32(0.1) * g)
    assert GRADIENT.fn(None, p, g, 0.0) is g


@pytest.mark.parametrize("direction", ["gradient", "sam"])
def test_resume_from_a_checkpoint_is_bit_for_bit(tiny_mlp, direction):
    from eos.dynamics.sam import sam

    objective, p0 = tiny_mlp
    p0 = p0.astype(jnp.float32)
    kw = dict(lr=0.3, steps=23, chunk=4, spectrum=Spectrum(k=2, every=3, tol=1e-4),
              metrics={"acc": objective.accuracy},
              direction=sam(0.05) if direction == "sam" else GRADIENT)  # fmt: skip
    straight = run_gd(objective, p0, **kw)
    states = []
    with pytest.raises(KeyboardInterrupt):

        def save_then_die(state):
            states.append(state)
            if len(states) == 2:
                raise KeyboardInterrupt("killed after the second checkpoint")

        run_gd(objective, p0, on_checkpoint=save_then_die, checkpoint_every=6, **kw)
    assert [int(s["step"]) for s in states] == [8, 16]  # first chunk boundaries >= 6 apart
    resumed = run_gd(objective, p0, resume_from=states[-1], **kw)
    assert set(resumed.arrays) == set(straight.arrays)
    for key, value in straight.arrays.items():
        assert value.dtype == resumed[key].dtype and value.tobytes() == resumed[key].tobytes(), key
    assert straight.params.tobytes() == resumed.params.tobytes()
    assert resumed.meta["steps_done"] == 23
