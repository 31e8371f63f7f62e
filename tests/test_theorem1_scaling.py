"""Theorem 1 as a scaling law: eos.analysis.theorem1_scaling, eos.dynamics.reanchored and the
ledger's slope claims, each against an independent computation (exact power laws, series built by
hand, a dense re-implementation of eq. (6) with full Hessians and third-derivative tensors, the
tracker's own prediction)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from eos import dynamics as dyn
from eos.analysis import claims
from eos.analysis import theorem1_scaling as ts
from eos.analysis.claims.base import FAILS, HOLDS, OUTSIDE
from eos.dynamics.reanchored import cycle_starts, reanchored
from eos.objective import Objective

ETA, ALPHA, BETA = 0.1, 1.0, 4.0
DELTA = float(np.sqrt(2 * ALPHA / BETA))
STEPS = 45


# --------------------------------------------------------------------------- pure functions
def test_fit_slope_recovers_exact_power_laws():
    eps = np.array([0.02, 0.05, 0.1, 0.2])
    for p in (1.0, 2.0, 0.5):
        slope, c = ts.fit_slope(eps, 3.0 * eps**p)
        assert slope == pytest.approx(p, abs=1e-12) and np.exp(c) == pytest.approx(3.0)
    # non-finite and non-positive pairs are left out; one usable eps gives NaN
    slope, _ = ts.fit_slope([0.1, 0.2, np.nan, 0.4, 0.3], [0.01, 0.04, 1.0, 0.16, -1.0])
    assert slope == pytest.approx(2.0, abs=1e-12)
    assert np.isnan(ts.fit_slope([0.1, 0.1], [1.0, 2.0])[0])


def test_worst_median_and_step_of_the_worst():
    wm = ts.worst_median([1.0, 5.0, np.nan, 2.0, 3.0], [10, 11, 12, 13, 14])
    assert wm == {"worst": 5.0, "median": 2.5, "step": 11.0}
    assert np.isnan(ts.worst_median([np.nan], [0])["worst"])


def _bumps(centers, width, n=80, height=3.0):
    t = np.arange(n)
    r = sum(height * np.exp(-0.5 * ((t - c) / width) ** 2) for c in centers)
    return (-1.0) ** t * r  # the period-2 sign of x_t


def test_cycle_starts_and_lags_on_constructed_excursions():
    delta = np.full(80, 2.0)
    x_gd = _bumps([20, 60], 3.0) * 2.0
    x_pred = _bumps([22, 59], 3.0) * 2.0
    # |x|/delta = 3 exp(-(t-c)^2/18) >= 0.1  <=>  |t - c| <= 3 sqrt(2 ln 30) = 7.8
    np.testing.assert_array_equal(cycle_starts(x_gd, delta, 0.1), [13, 53])
    lags = ts.blowup_lags(x_gd, x_pred, delta, 0.1)
    assert [(c["start_lag"], c["peak_lag"]) for c in lags] == [(2, 2), (-1, -1)]
    assert lags[0]["gd_peak"] == 20 and lags[1]["pred_peak"] == 59


def _pair(n=60, lr=0.02, anchor_at=10, bad_step=30):
    """A tracked run and re-anchored arrays with hand-made errors: GD's loss and sharpness are
    the predictions plus known offsets."""
    t = np.arange(n)
    eps, delta = np.full(n, 0.05), np.full(n, 0.2)  # window 1/eps = 20 steps
    x_hat = np.where(t < anchor_at, 1e-6, 0.5) * delta
    x_hat[anchor_at + 15 :] = 0.01 * delta[anchor_at + 15 :]  # below c1 delta from step 25
    thm_loss, thm_sharp = np.full(n, 1.0), np.full(n, 2 / lr)
    loss_err = np.full(n, 1e-4)
    loss_err[bad_step] = 1e-2
    run = {"step": t, "gd/loss": thm_loss + loss_err, "gd/sharpness": thm_sharp + 0.5,
           "theorem1/loss": thm_loss, "theorem1/sharpness": thm_sharp,
           "theorem1/deviation": np.full(n, 1e-3), "constrained/epsilon": eps,
           "constrained/delta": delta, "predicted/x": np.full(n, 1e-6) * delta,
           "gd/x": x_hat}  # fmt: skip
    re = {"theorem1/loss": thm_loss, "theorem1/sharpness": thm_sharp + 0.25,
          "theorem1/deviation": np.full(n, 2e-3), "constrained/epsilon": eps,
          "constrained/delta": delta, "predicted/x": x_hat,
          "anchor": (t == anchor_at).astype(int)}  # fmt: skip
    return run, re


def test_run_errors_windows_worst_median_and_hypotheses():
    lr = 0.02
    run, re = _pair(lr=lr)
    out = ts.run_errors(run, re, c1=0.1, lr=lr)
    paper, anch = out["paper"], out["reanchored"]
    # paper: window t = 0..20 (1/eps = 20): the loss offset at step 30 is outside it
    assert (paper["start"], paper["end"]) == (0, 20)
    assert paper["loss_worst"] == pytest.approx(lr * 1e-4 / 0.04)
    assert paper["sharpness_worst"] == pytest.approx(lr * 0.5)
    assert paper["deviation_median"] == pytest.approx(1e-3 / 0.2)
    assert paper["min_x_over_delta"] == pytest.approx(1e-6)
    assert paper["horizon"] == pytest.approx(21 * 0.05)
    # the same prediction over the whole run sees the offset at step 30
    whole = out["paper-run"]
    assert (whole["start"], whole["end"]) == (0, 59) and whole["loss_step"] == 30
    assert whole["loss_worst"] == pytest.approx(lr * 1e-2 / 0.04)
    # re-anchored: from the anchor (10) until |x_hat| < c1 delta (25): steps 10..24, with the
    # loss offset at step 30 outside and the worst sharpness error 0.25 everywhere
    assert (anch["start"], anch["end"]) == (10, 24)
    assert anch["min_x_over_delta"] == pytest.approx(0.5)
    assert anch["sharpness_worst"] == pytest.approx(lr * 0.25)
    assert anch["sharpness_ratio"] == pytest.approx(0.25 / (0.05**2 / lr))
    _, re2 = _pair(lr=lr, bad_step=20)
    run2, _ = _pair(lr=lr, bad_step=20)
    anch2 = ts.run_errors(run2, re2, c1=0.1, lr=lr)["reanchored"]
    assert anch2["loss_step"] == 20 and anch2["loss_worst"] == pytest.approx(lr * 1e-2 / 0.04)
    assert anch2["loss_median"] == pytest.approx(lr * 1e-4 / 0.04)


# --------------------------------------------------------------------------- claims
def _table(eps, worst, variant="reanchored", min_x=0.5):
    rows = []
    for e, w in zip(eps, worst):
        row = {"variant": variant, "eps": e, "min_x_over_delta": min_x}
        row.update({f"{q}_worst": w[q] for q in ts.QUANTITIES})
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(claim_id, table):
    return claims.evaluate(claims.CLAIMS[claim_id], table, "set")


def test_slope_claims_hold_on_the_orders_and_fail_off_them():
    eps = np.array([0.02, 0.04, 0.08, 0.16])
    exact = [{q: 2.0 * e ** ts.ORDERS[q] for q in ts.QUANTITIES} for e in eps]
    table = _table(eps, exact)
    for q in ts.QUANTITIES:
        v = _verdict(f"thm1-scaling-{q}-reanchored", table)
        assert v.verdict == HOLDS and v.value == pytest.approx(ts.ORDERS[q])
        assert v.margin == pytest.approx(claims.scaling.SLOPE_TOL)
    flat = _table(eps, [{q: 0.3 for q in ts.QUANTITIES} for _ in eps])  # slope 0
    v = _verdict("thm1-scaling-sharpness-reanchored", flat)
    assert v.verdict == FAILS and v.margin == pytest.approx(-(2.0 - claims.scaling.SLOPE_TOL))


def test_slope_claims_report_violated_hypotheses():
    eps = np.array([0.02, 0.04, 0.08, 0.16])
    exact = [{q: e ** ts.ORDERS[q] for q in ts.QUANTITIES} for e in eps]
    v = _verdict("thm1-scaling-loss", _table(eps, exact, variant="paper", min_x=1e-6))
    assert v.verdict == OUTSIDE and "c1" in v.note and v.margin > 0
    narrow = _table(eps[:3] / 10 + 0.05, exact[:3])  # 3 runs, a factor 1.1 in eps
    v = _verdict("thm1-scaling-loss-reanchored", narrow)
    assert v.verdict == OUTSIDE and "factor" in v.note
    assert (
        claims.evaluate(claims.CLAIMS["thm1-scaling-loss"], narrow, "x").verdict == "not recorded"
    )


# --------------------------------------------------------------------------- the dynamics
def _loss(p):
    """The toy model of App. B plus a weak quadratic/cubic coupling to a fourth coordinate, so
    that eq. (6) is not exact."""
    x, y, z, w = p
    return ((2 / ETA + jnp.sqrt(BETA) * y + 0.05 * w) * x**2 / 2 - ALPHA / jnp.sqrt(BETA) * y + z
            + 1.5 * w**2 + 0.05 * y * w + 0.02 * y**3)  # fmt: skip


@pytest.fixture(scope="module")
def cubic():
    obj = Objective.from_function(_loss, num_params=4)
    th0 = jnp.array([1e-3 * DELTA, 0.0, 0.0, 0.0], jnp.float64)
    u0 = jnp.array([1.0, 0.0, 0.0, 0.0], jnp.float64)
    kw = dict(lr=ETA, steps=STEPS, c1=0.1, record_vectors=True)
    return obj, th0, reanchored(obj, th0, u0, **kw), reanchored(obj, th0, u0, anchor=False, **kw)


def _dense_prediction(a, anchors):
    """Eq. (6) with dense matrices at the recorded theta-dagger_t, u_t: H by jax.hessian,
    grad S = D^3 L (u, u) by a dense third-derivative tensor; v_hat := theta - theta-dagger at
    ``anchors``."""
    hess = jax.hessian(_loss)
    third = jax.jacfwd(hess)
    th, dg, U = (np.asarray(a[f"vectors/{k}"]) for k in ("theta", "dagger", "u"))
    v = th[0] - dg[0]
    xs, devs = [], []
    for t in range(len(dg)):
        if t in anchors:
            v = th[t] - dg[t]
        u = U[t]
        H = np.asarray(hess(jnp.asarray(dg[t])))
        g = np.asarray(jax.grad(_loss)(jnp.asarray(dg[t])))
        gS = np.einsum("ijk,j,k->i", np.asarray(third(jnp.asarray(dg[t]))), u, u)
        gSp = gS - (gS @ u) * u
        alpha, beta = -g @ gS, gSp @ gSp
        x, y = u @ v, gSp @ v
        xs.append(x)
        devs.append(np.linalg.norm(th[t] - dg[t] - v))
        if t + 1 == len(dg):
            break
        P = np.eye(4) - np.outer(u, u)
        w = (np.eye(4) - ETA * H) @ P @ v + ETA * gSp * (2 * alpha / beta - x * x) / 2
        u1 = U[t + 1]
        v = (np.eye(4) - np.outer(u1, u1)) @ w - (1 + ETA * y) * x * u1
    return np.array(xs), np.array(devs)


def test_reanchoring_matches_a_dense_computation_of_eq6(cubic):
    _, _, a, _ = cubic
    # anchors re-derived from GD's recorded x_t and delta_t
    ratio = np.abs(a["gd/x"]) / a["constrained/delta"]
    above = ratio >= 0.1
    expected = [t for t in range(len(above)) if above[t] and (t == 0 or not above[t - 1])]
    assert expected and list(np.flatnonzero(a["anchor"])) == expected
    xs, devs = _dense_prediction(a, set(expected))
    np.testing.assert_allclose(a["predicted/x"], xs, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a["theorem1/deviation"], devs, rtol=1e-8, atol=1e-12)
    t1 = expected[0]
    assert a["theorem1/deviation"][t1] == 0.0  # v_hat := v at the anchor


def test_without_anchors_it_is_the_trackers_prediction(cubic):
    obj, th0, anchored, paper = cubic
    assert not paper["anchor"].any()
    tr = dyn.track(obj, th0, lr=ETA, steps=STEPS, progress=False, eig_tol=1e-12, proj_tol=1e-12,
                   point_tol=1e-10)  # fmt: skip
    for k in ("theorem1/loss", "theorem1/sharpness", "theorem1/deviation", "constrained/delta"):
        np.testing.assert_allclose(paper[k], tr[k], rtol=1e-6, atol=1e-9, err_msg=k)
    # before the first anchor both predictions coincide; after it the re-anchored one is closer
    t1 = int(np.flatnonzero(anchored["anchor"])[0])
    np.testing.assert_array_equal(anchored["predicted/x"][:t1], paper["predicted/x"][:t1])
    after = slice(t1, t1 + 10)
    assert anchored["theorem1/deviation"][after].max() < paper["theorem1/deviation"][after].max()


def test_scaling_figure_labels_the_fitted_slopes():
    from eos.figures.theorem1_scaling import plot_theorem1_scaling

    eps = np.array([0.02, 0.04, 0.08, 0.16])
    rows = []
    for variant in ts.VARIANTS:
        t = _table(eps, [{q: e ** ts.ORDERS[q] for q in ts.QUANTITIES} for e in eps], variant)
        t[[f"{q}_median" for q in ts.QUANTITIES]] = t[[f"{q}_worst" for q in ts.QUANTITIES]] / 2
        rows.append(t)
    fig = plot_theorem1_scaling(pd.concat(rows, ignore_index=True))
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "re-anchored, slope 2.00" in labels and len(fig.axes) == 3
