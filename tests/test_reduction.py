"""The row-space reduction of the MLP (eos.reduction) against the full computation.

Independent checks: dense Hessians of the full and the reduced loss on a tiny synthetic problem
(the reduced spectrum is the full one without the null space's zeros), derivatives mapped
between coordinates, and a tracked run from the same point in both coordinates.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos import dynamics as dyn
from eos import experiments as E
from eos import reduction
from eos import results as R
from eos.data import Dataset
from eos.experiments.workspace import build_objective
from eos.objective import build


def _synthetic(n=6, d_in=20, classes=3, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int32)
    return Dataset(inputs=x, labels=y, num_classes=classes, name="synthetic")


@pytest.fixture(scope="module")
def tiny():
    obj, p0 = build("mlp", _synthetic(), "mse", width=4)
    return obj, p0, reduction.row_space(obj, p0)


def test_coordinates_are_an_isometry(tiny):
    obj, p0, sp = tiny
    assert sp.rank == 6 and sp.objective.num_params == obj.num_params - (20 - 6) * 4
    np.testing.assert_allclose(sp.basis.T @ sp.basis, np.eye(6), atol=1e-14)
    p = p0.astype(jnp.float64)
    np.testing.assert_allclose(sp.lift(sp.reduce(p)), p, atol=1e-14)
    v = jax.random.normal(jax.random.PRNGKey(0), (sp.objective.num_params,), jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(1), (sp.objective.num_params,), jnp.float64)
    np.testing.assert_allclose(sp.reduce(sp.lift_direction(v)), v, atol=1e-14)
    np.testing.assert_allclose(
        jnp.dot(sp.lift_direction(v), sp.lift_direction(w)), jnp.dot(v, w), rtol=1e-13
    )


def test_reduced_hessian_is_the_full_one_without_its_null_space(tiny):
    """Dense eigh: the full Hessian's spectrum = the reduced one plus d - d_r zeros, and the
    top eigenvectors correspond under lift_direction."""
    obj, p0, sp = tiny
    p = p0.astype(jnp.float64) + 0.3 * jax.random.normal(jax.random.PRNGKey(2), p0.shape)
    pr = sp.reduce(p)
    assert float(sp.objective.value(pr)) == pytest.approx(float(obj.value(p)), rel=1e-13)
    H = np.asarray(jax.hessian(obj.fn)(p))
    Hr = np.asarray(jax.hessian(sp.objective.fn)(pr))
    ev, U = np.linalg.eigh(H)
    evr, Ur = np.linalg.eigh(Hr)
    extra = obj.num_params - sp.objective.num_params
    zeros = np.argsort(np.abs(ev))[:extra]
    assert np.max(np.abs(ev[zeros])) < 1e-12 * np.max(np.abs(ev))
    np.testing.assert_allclose(np.sort(np.delete(ev, zeros)), evr, atol=1e-12 * evr.max())
    top = np.asarray(sp.lift_direction(jnp.asarray(Ur[:, -1])))
    assert abs(np.dot(top, U[:, -1])) == pytest.approx(1.0, abs=1e-10)
    # the gradient has no component outside the row space
    g = obj.grad(p)
    np.testing.assert_allclose(sp.lift_direction(sp.objective.grad(pr)), g, atol=1e-14)


def test_third_derivative_maps(tiny):
    """grad S = D3 L(u, u) (Lemma 2) is the same vector in both coordinates."""
    obj, p0, sp = tiny
    p = p0.astype(jnp.float64)
    ur = jax.random.normal(jax.random.PRNGKey(3), (sp.objective.num_params,), jnp.float64)
    u = sp.lift_direction(ur)
    full = obj.D(p, 3, u, u)
    red = sp.lift_direction(sp.objective.D(sp.reduce(p), 3, ur, ur))
    np.testing.assert_allclose(red, full, atol=1e-12 * float(jnp.max(jnp.abs(full))))


def test_tracked_run_matches_the_full_one(data_root):
    """From the same first unstable iterate, the tracked run in row-space coordinates records
    the same numbers as the full one (up to rounding amplified over the steps)."""
    from eos import data

    obj, p0 = build("mlp", data.cifar10(32, root=data_root), "mse", width=16)
    inst = dyn.to_instability(obj, p0, lr=0.02, max_steps=200, progress=False)
    assert inst.reached
    sp = reduction.row_space(obj, p0)
    th = jnp.asarray(inst.params, jnp.float64)
    u = jnp.asarray(inst.eigvec, jnp.float64)
    kw = dict(lr=0.02, steps=6, progress=False, diag_every=3, lambda2_every=3)
    full = dyn.track(obj, th, u0=u, **kw)
    red = dyn.track(sp.objective, sp.reduce(th), u0=sp.reduce(u), **kw)
    assert red.steps_done == full.steps_done == 6
    for key in ("gd/loss", "gd/sharpness", "gd/x", "gd/y", "gd/distance", "predicted/x",
                "predicted/sharpness", "constrained/loss", "constrained/alpha",
                "constrained/delta", "theorem1/sharpness", "flow/loss", "flow/distance",
                "assumptions/rho3"):  # fmt: skip
        a, b = red[key], full[key]
        scale = np.max(np.abs(b))
        assert np.max(np.abs(a - b)) <= 1e-6 * scale, key


def test_errors_and_applicability(tiny, data_root):
    from eos import data

    obj, p0, sp = tiny
    assert reduction.supports_row_space(obj)
    assert not reduction.supports_row_space(sp.objective)  # already reduced
    with pytest.raises(ValueError, match="already reduced"):
        reduction.row_space(sp.objective, sp.reduce(p0))
    with pytest.raises(ValueError, match="shape"):
        sp.lift(p0)
    with pytest.raises(ValueError, match="shape"):
        sp.reduce(p0[:-1])
    with pytest.raises(ValueError, match="row space"):
        sp.objective.evaluate(sp.reduce(p0), _synthetic())
    cnn, q0 = build("cnn", data.cifar10(8, root=data_root), "mse", width=4)
    assert not reduction.supports_row_space(cnn)
    with pytest.raises(ValueError, match="MLP"):
        reduction.row_space(cnn, q0)
    wide = dataclasses.replace(_synthetic(n=30, d_in=20), name="wide")
    assert not reduction.supports_row_space(build("mlp", wide, "mse", width=4)[0])


def test_experiments_use_it_and_save_full_vectors(data_root):
    cfg = E.get_config("mlp-mse-cifar10-lr0.02", profile="smoke")
    assert cfg.row_space is True and "row_space" in E.PHASE1_FIELDS
    assert E.get_config("mlp-mse-cifar10-lr0.02", profile="paper").n >= 3072  # no reduction
    res = E.run("fig1-mlp", profile="smoke", progress=False)
    info = res.provenance["row_space"]
    assert info["rank"] == cfg.n and info["full_num_params"] == res.theta_star.size
    objective, _ = build_objective(res.config)
    assert res.theta_star.size == objective.num_params  # saved in the full coordinates
    assert float(np.linalg.norm(res.u_star)) == pytest.approx(1.0, abs=1e-5)
    off = E.run("fig1-mlp", profile="smoke", progress=False, row_space=False)
    assert off.provenance["row_space"] is None
    with pytest.raises(ValueError, match="row_space.*bool"):
        E.get_config("fig1-mlp", profile="smoke", row_space="yes")


def test_checkpoint_in_other_coordinates_is_not_resumed(tmp_path):
    R.Checkpointer(tmp_path, "after", tag="row_space-aaaa").save({"step": np.asarray(3)})
    ck = R.Checkpointer(tmp_path, "after", tag="row_space-bbbb")
    assert ck.load() is None and "row_space-aaaa" in ck.discarded[0]
    assert R.Checkpointer(tmp_path, "after", tag="row_space-aaaa").load()["step"] == 3
