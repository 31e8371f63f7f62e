"""The ledger's group claims (Fig. 5, Fig. 6, warmup, SAM) and App. F's per-run claim: each rule
on constructed runs where the claim must hold and where it must fail, the value recomputed from
the construction."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from synthetic_runs import FakeResult, profile_arrays

from eos.analysis import claims
from eos.analysis.claims import FAILS, HOLDS, NOT_RECORDED, OUTSIDE

GROUP = "implications"


class Record:
    """A finished GD run as ``Result.gd_run()`` returns it: arrays, ``lr``, ``sharpness``,
    ``metric``, ``meta``."""

    def __init__(self, lr, sharpness, loss, meta=None, arrays=None):
        self.lr, self.sharpness = lr, np.asarray(sharpness, dtype=float)
        self.meta = meta or {"diverged": False, "diverged_at": None}
        n = len(loss)
        self._a = {"loss": np.asarray(loss, float), "lr": np.full(n, lr),
                   "eig_step": np.arange(self.sharpness.size)} | (arrays or {})  # fmt: skip

    def __getitem__(self, key):
        return self._a[key]

    def metric(self, name):
        return np.array([0.5])


class GroupResult:
    def __init__(self, record, schedule="constant", meta=None):
        self.record, self.lr, self.meta = record, record.lr, meta or {}
        self.config = SimpleNamespace(schedule=schedule, kind="spectrum")

    def gd_run(self):
        return self.record


def _fig6(finals, losses=None, lrs=(0.1, 0.2, 0.4)):
    losses = losses or [1.0, 0.8, 0.5]
    return {f"fig6-c{i}": GroupResult(Record(lr, np.full(20, s), np.full(40, loss)))
            for i, (lr, s, loss) in enumerate(zip(lrs, finals, losses))}  # fmt: skip


def _verdicts(results, params=None):
    group = claims.Group(results, params or {})
    return {v.claim: v for v in claims.scorecard({}, groups={GROUP: group})}


def test_fig6_claims_hold_on_flatter_ends_and_fail_when_one_rises():
    v = _verdicts(_fig6([19.0, 9.6, 4.9]))  # 2/eta = 20, 10, 5: every run reached 95% of it
    assert v["fig6-flatter"].verdict == HOLDS
    assert v["fig6-flatter"].value == pytest.approx(max(9.6 / 19, 4.9 / 9.6))
    assert v["fig6-loss"].value == pytest.approx(0.5) and v["fig6-loss"].holds
    assert v["fig6-capped"].value == pytest.approx(max(19 / 20, 9.6 / 10, 4.9 / 5))
    bad = _verdicts(_fig6([15.0, 16.0, 11.0], losses=[1.0, 0.9, 1.2]))
    assert bad["fig6-flatter"].verdict == FAILS
    assert bad["fig6-flatter"].value == pytest.approx(16 / 15)
    assert bad["fig6-loss"].verdict == FAILS
    assert bad["fig6-capped"].verdict == FAILS and bad["fig6-capped"].value == pytest.approx(2.2)


def test_fig6_capped_is_outside_without_a_run_at_the_edge():
    v = _verdicts(_fig6([1.0, 0.9, 0.8]))  # far below every 2/eta
    assert v["fig6-capped"].verdict == OUTSIDE
    assert v["fig6-flatter"].verdict == HOLDS


def _warmup(jump_diverged=True, warm_diverged=False, final=6.0, start=20.0, eta0=0.5):
    jump = Record(
        eta0,
        np.full(5, 30.0),
        np.full(5, 1e4),
        meta={"diverged": jump_diverged, "diverged_at": 4 if jump_diverged else None},
    )
    warm = Record(eta0, np.linspace(start, final, 50).tolist() + [final] * 50, np.ones(100),
                  meta={"diverged": warm_diverged, "diverged_at": None})  # fmt: skip
    return {"warmup-jump": GroupResult(jump),
            "warmup-linear": GroupResult(warm, meta={"sharpness_at_start": start})}  # fmt: skip


def test_warmup_claims_read_divergence_and_the_sharpness_drop():
    v = _verdicts(_warmup())
    assert v["warmup-jump-diverges"].holds and v["warmup-jump-diverges"].value == 1.0
    assert v["warmup-flattens"].value == pytest.approx(6.0 / 20.0) and v["warmup-flattens"].holds
    assert v["warmup-capped"].value == pytest.approx(6.0 * 0.5 / 2) and v["warmup-capped"].holds
    bad = _verdicts(_warmup(jump_diverged=False, final=12.0))
    assert bad["warmup-jump-diverges"].verdict == FAILS
    assert bad["warmup-flattens"].verdict == FAILS  # 12 / 20 > 1/2
    assert bad["warmup-capped"].verdict == FAILS  # 12 > 2 * 2 / 0.5
    assert _verdicts(_warmup(warm_diverged=True))["warmup-flattens"].verdict == FAILS


def test_sam_claim_compares_with_gd_at_the_same_learning_rate():
    runs = _fig6([15.0, 9.0, 4.5])
    runs["sam"] = GroupResult(Record(0.4, np.full(20, 3.0), np.ones(40)))
    v = _verdicts(runs)["sam-flatter"]
    assert v.holds and v.value == pytest.approx(3.0 / 4.5)
    runs["sam"] = GroupResult(Record(0.4, np.full(20, 6.0), np.ones(40)))
    assert _verdicts(runs)["sam-flatter"].verdict == FAILS
    runs["sam"] = GroupResult(Record(0.3, np.full(20, 3.0), np.ones(40)))
    assert _verdicts(runs)["sam-flatter"].verdict == NOT_RECORDED  # no GD run at eta = 0.3


def _fig5(clean_first: bool, n_one=60, n_several=60):
    """x alternates cleanly in one regime and is noise in the other; eigenvalue 2 crosses 2/eta
    between them."""
    rng = np.random.default_rng(0)
    lr, t = 0.5, np.arange(n_one + n_several)
    clean = (-1.0) ** t * (1 + 0.001 * t)
    noise = rng.standard_normal(t.size)
    one = t < n_one
    x = np.where(one, clean if clean_first else noise, noise if clean_first else clean)
    eig = np.stack([np.full(t.size, 4.5), np.where(one, 3.0, 4.2)], axis=1)
    rec = Record(lr, eig[:, 0], np.ones(t.size), arrays={"x": x[:, None], "eigvals": eig,
                                                           "eig_step": t})  # fmt: skip
    return {"fig5-multiple-unstable": GroupResult(rec)}


def test_fig5_claim_compares_the_regularity_of_the_two_regimes():
    params = {"fig5-multiple-unstable": {"window": 10}}
    good = _verdicts(_fig5(True), params)["fig5-one-vs-several"]
    assert good.verdict == HOLDS and good.value > 0.5  # clean period 2 (1) against noise (~2/w)
    bad = _verdicts(_fig5(False), params)["fig5-one-vs-several"]
    assert bad.verdict == FAILS and bad.value < -0.5
    short = _verdicts(_fig5(True, n_one=12), params)["fig5-one-vs-several"]
    assert short.verdict == OUTSIDE and "windows" in short.note
    assert _verdicts(_fig5(True))["fig5-one-vs-several"].verdict == NOT_RECORDED  # no window


def test_app_f_limiting_sharpness_claim_against_an_exact_quartic_profile():
    lr, c4, delta = 0.5, -0.01, 1.0  # F = c4 x^4: kappa = F''(d) - F'(d)/d = 8 c4 d^2
    s_inf = 2 / lr + 8 * c4 * delta**2
    arrays = profile_arrays([(c4, 0.0, delta)] * 3)
    near = dict(arrays, step=np.arange(30), **{"gd/sharpness": np.full(30, s_inf + 0.01)})
    v = claims.evaluate(claims.CLAIMS["appF-sinf-closer"], FakeResult("track", lr, near), "r")
    assert v.holds and v.value == pytest.approx(0.01 / abs(s_inf + 0.01 - 2 / lr))
    far = dict(arrays, step=np.arange(30), **{"gd/sharpness": np.full(30, 2 / lr + 0.01)})
    v = claims.evaluate(claims.CLAIMS["appF-sinf-closer"], FakeResult("track", lr, far), "r")
    assert v.verdict == FAILS
    bare = FakeResult("track", lr, {"step": np.arange(30), "gd/sharpness": np.full(30, 4.0)})
    assert claims.evaluate(claims.CLAIMS["appF-sinf-closer"], bare, "r").verdict == NOT_RECORDED


def test_every_claim_has_a_chapter_and_group_verdicts_name_the_group():
    assert all(claims.chapter_of(cid) for cid in claims.CLAIMS)
    verdicts = claims.scorecard({}, groups={GROUP: claims.Group(_fig6([15.0, 9.0, 4.5]))})
    assert {v.run for v in verdicts} == {GROUP}
    assert len(verdicts) == len(claims.claims_for(f"group:{GROUP}"))
