"""The claims ledger (eos.analysis.claims): each rule on constructed runs where the claim must
hold and where it must fail, with the value computed independently from the construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic_runs import FakeResult, gd_result, tracked_arrays

from eos.analysis import claims
from eos.analysis.claims import FAILS, HOLDS, NOT_RECORDED, OUTSIDE, Rule

LR = 0.01


def _verdict(claim_id, run):
    return claims.evaluate(claims.CLAIMS[claim_id], run, "run")


def _track(**changes):
    a = tracked_arrays(n=60, lr=LR)
    for k, f in changes.items():
        a[k] = f(a)
    return FakeResult("track", LR, a)


# --------------------------------------------------------------------------- rules
@pytest.mark.parametrize(
    "rule, value, margin",
    [(Rule("<", 1.0), 0.25, 0.75), (Rule("<", 1.0), 3.0, -2.0), (Rule(">", 0.0), 0.5, 0.5),
     (Rule("within", (0.75, 1.25)), 1.1, 0.15), (Rule("within", (0.75, 1.25)), 0.5, -0.25)],
)  # fmt: skip
def test_rule_margin_is_signed_distance_inside(rule, value, margin):
    assert rule.margin(value) == pytest.approx(margin)


def test_rule_rejects_bad_definitions():
    with pytest.raises(ValueError, match="op"):
        Rule("<=", 1.0)
    with pytest.raises(ValueError, match="within"):
        Rule("within", 1.0)


def test_nan_value_fails():
    v = claims.evaluate(claims.Claim("x", "r", "s", "gd", lambda r: claims.Measure(math.nan),
                                     Rule("<", 1.0)), object(), "run")  # fmt: skip
    assert v.verdict == FAILS


# --------------------------------------------------------------------------- Fig. 1
def test_fig1_claims_hold_on_an_edge_of_stability_run():
    run = gd_result(lr=0.02, after=80)  # sharpness 2/eta (1 + 0.02 cos), loss 0.99^t zig-zag
    for cid in ("fig1-sharpening", "fig1-hover", "fig1-loss-falls", "fig1-non-monotone"):
        assert _verdict(cid, run).verdict == HOLDS, cid
    # the values, from the construction: S_0 / (2/eta) = 20 / 100; the loss rises every other step
    assert _verdict("fig1-sharpening", run).value == pytest.approx(0.2)
    assert _verdict("fig1-non-monotone", run).value == pytest.approx(0.5)


def test_fig1_claims_fail_where_the_run_contradicts_them():
    run = gd_result(lr=0.02, after=80)
    run.trajectory["gd/sharpness"] = run.trajectory["gd/sharpness"] * 1.5  # grows on past 2/eta
    v = _verdict("fig1-hover", run)
    assert v.verdict == FAILS and v.value == pytest.approx(1.5, rel=0.02) and v.margin < 0
    run.trajectory["gd/loss"] = np.linspace(1.0, 2.0, 81)  # rises
    assert _verdict("fig1-loss-falls", run).verdict == FAILS
    run.trajectory["gd/loss"] = np.linspace(2.0, 1.0, 81)  # falls monotonically, as under Lemma 1
    v = _verdict("fig1-non-monotone", run)
    assert v.verdict == FAILS and v.value == 0.0
    run.history["sharpness"] = np.array([120.0, 110.0, 105.0, 101.0, 101.0])  # no sharpening
    assert _verdict("fig1-sharpening", run).verdict == FAILS


def test_fig1_short_runs_are_outside_the_hypotheses_and_unstable_runs_unrecorded():
    short = gd_result(lr=0.02, after=10)
    v = _verdict("fig1-hover", short)
    assert v.verdict == OUTSIDE and "10 steps" in v.note and v.margin > 0
    never = gd_result(lr=0.02, after=80)
    never.reached_instability = False
    assert _verdict("fig1-hover", never).verdict == NOT_RECORDED


# --------------------------------------------------------------------------- Sec. 6, Lemma 13
def test_sec6_claims_hold_and_fail_with_the_prediction_error():
    good = _track()
    for cid in ("sec6-loss", "sec6-sharpness", "lemma13-dagger", "sec6-flow-drifts"):
        assert _verdict(cid, good).verdict == HOLDS, (cid, _verdict(cid, good))
    bad = _track(**{"predicted/loss": lambda a: 1.2 * a["gd/loss"]})
    v = _verdict("sec6-loss", bad)
    assert v.verdict == FAILS and v.value == pytest.approx(0.2, rel=1e-9)
    off = _track(**{"constrained/residual_sharpness": lambda a: np.full(60, 0.01 * 2 / LR)})
    v = _verdict("lemma13-dagger", off)
    assert v.verdict == FAILS and v.value == pytest.approx(0.01)
    near = _track(**{"flow/distance": lambda a: 0.5 * a["gd/distance"]})
    v = _verdict("sec6-flow-drifts", near)
    assert v.verdict == FAILS and v.value == pytest.approx(0.5)


def test_sec6_claims_need_small_epsilon_and_a_blow_up():
    big = _track(**{"constrained/epsilon": lambda a: np.full(60, 0.3)})
    v = _verdict("sec6-loss", big)
    assert v.verdict == OUTSIDE and "max eps = 0.3" in v.note
    quiet = _track(**{"gd/x": lambda a: 1e-3 * a["gd/x"]})  # |x| <= 1.8e-3 delta: no blow-up
    v = _verdict("sec6-sharpness", quiet)
    assert v.verdict == OUTSIDE and "no blow-up tracked (max |x|/delta = 0.0018" in v.note
    # the numerical claim on theta-dagger has no such hypothesis
    assert _verdict("lemma13-dagger", big).verdict == HOLDS


# --------------------------------------------------------------------------- Theorem 1
def _theorem1_run(k, at):
    """A run whose Theorem 1 loss residual is exactly k * eps delta^2 / eta at step ``at`` and
    zero elsewhere (|x_hat| >= 0.2 delta throughout: inside the hypothesis)."""

    def loss(a):
        scale = a["constrained/epsilon"] * a["constrained/delta"] ** 2 / LR
        out = a["gd/loss"].copy()
        out[at] -= k * scale[at]
        return out

    return _track(**{"theorem1/loss": loss})


def test_theorem1_worst_case_is_the_constructed_residual():
    run = _theorem1_run(3.0, at=7)  # horizon 1/eps_0 = 1/(2 eta) = 50 steps
    v = _verdict("thm1-loss-worst", run)
    assert v.verdict == HOLDS and v.value == pytest.approx(3.0, rel=1e-9)
    assert "worst at step 7" in v.note
    v = _verdict("thm1-loss-worst", _theorem1_run(25.0, at=7))
    assert v.verdict == FAILS and v.value == pytest.approx(25.0) and v.margin == pytest.approx(-15)
    assert _verdict("thm1-loss-median", _theorem1_run(25.0, at=7)).value == pytest.approx(0.0)


def test_theorem1_beyond_the_horizon_is_not_counted():
    run = _theorem1_run(25.0, at=55)  # after t = 1/eps_0 = 50
    assert _verdict("thm1-loss-worst", run).value == pytest.approx(0.0)


def test_theorem1_small_x_hat_is_outside_the_hypothesis():
    run = _track(**{"predicted/x": lambda a: np.where(np.arange(60) == 3, 1e-6, a["predicted/x"])})
    v = _verdict("thm1-sharpness-worst", run)
    assert v.verdict == OUTSIDE and "c1" in v.note and "2e-05" in v.note


# --------------------------------------------------------------------------- App. E
def test_app_e_claims_read_the_ratios_against_epsilon():
    good = _track()
    for c in claims.CLAIMS.values():
        if c.id.startswith("appE-"):
            assert _verdict(c.id, good).verdict == HOLDS, c.id
    bad = _track(**{"assumptions/a5_third_perp": lambda a: np.full(12, 0.5)})
    v = _verdict("appE-a5-third-perp", bad)  # 0.5 / eps, eps = 2 eta = 0.02
    assert v.verdict == FAILS and v.value == pytest.approx(25.0)
    wide = _track(**{"assumptions/a4_alignment": lambda a: np.linspace(0.01, 0.5, 12)})
    v = _verdict("appE-a4-alignment", wide)  # reaches 0.05 / 0.01 = 5 times below the band
    assert v.verdict == FAILS and v.value == pytest.approx(5.0)
    no_diag = FakeResult("track", LR, {k: v for k, v in tracked_arrays(60, LR).items()
                                       if not k.startswith("assumptions/")})  # fmt: skip
    assert _verdict("appE-alpha", no_diag).verdict == NOT_RECORDED


# --------------------------------------------------------------------------- scorecard
def test_scorecard_keeps_failures_and_covers_every_claim_of_each_kind():
    runs = {"good": _track(), "bad": _theorem1_run(25.0, at=7), "gd": gd_result(after=80)}
    verdicts = claims.scorecard(runs, theory=True)
    n_track, n_gd = len(claims.claims_for("track")), len(claims.claims_for("gd"))
    assert len(verdicts) == len(claims.claims_for("theory")) + 2 * n_track + n_gd
    assert any(v.run == "bad" and v.verdict == FAILS for v in verdicts)
    frame = claims.scorecard_frame(verdicts)
    assert list(frame["verdict"]).count(FAILS) == sum(v.verdict == FAILS for v in verdicts)


def test_theory_claims_hold_by_their_independent_computations():
    for c in claims.claims_for("theory"):
        v = claims.evaluate(c, None, "theory")
        assert v.verdict == HOLDS, v
    # exact: the stage order has no out-of-order change; g is conserved far below the rule
    assert _verdict("appB-stage-order", None).value == 0.0
    assert _verdict("lemma3-conserved", None).value < 1e-9
