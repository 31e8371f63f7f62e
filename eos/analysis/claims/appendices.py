r"""The ledger's claims on App. F (the limiting sharpness) and App. H (scale-invariant losses).

* ``appF-attracting`` (theory; App. F.2, eq. (11)): on the one-dimensional generalized dynamics
  with a sub-quadratic quartic profile :math:`F(x) = c x^4/24` (:math:`c < 0`,
  :math:`\delta^2 = 4`), whose period-2 orbit is attracting, the sharpness converges to the limiting
  sharpness :math:`S_\infty = 2/\eta + F''(\delta) - F'(\delta)/\delta` (value: the final
  :math:`|S_t - S_\infty|`, after 120,000 steps of the map
  :func:`eos.analysis.quadratic.generalized_xy_map`).
* ``appF-sinf-closer`` (``track`` runs with App. F's diagnostics): the observed sharpness (two-step
  averaged, mean over the run) is closer to :math:`S_\infty` (eq. (11), from the recorded line
  profiles) than to :math:`2/\eta` (value: :math:`|\bar S - \bar S_\infty| / |\bar S - 2/\eta|`).
* ``appH-identities`` (theory; Lemmas 7, 8, 10, 11, Corollaries 2, 3): on a scale-invariant
  teacher-student network (:mod:`eos.theory.scale_invariant`) every identity, corrected where
  App. H misprints it, holds to round-off against autodiff (value: the largest relative error,
  finite differences and the deliberately violated Corollary 2 excluded).
* ``appH-lemma9-rho3`` / ``appH-lemma9-rho4`` (Lemma 9): along the direction of the constrained
  minimiser, the third and fourth derivative norms at :math:`S = 2/\eta` scale as
  :math:`\eta^{-3/2}` and :math:`\eta^{-2}` (value: the fitted log-log exponent over four learning
  rates in [0.01, 0.5]).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from eos.analysis import quadratic
from eos.analysis.agreement import two_step_average
from eos.analysis.claims.base import Claim, Measure, Rule
from eos.analysis.limiting import PROFILE_KEYS, profile_series, window_mean
from eos.analysis.run_arrays import arrays_of, lr_of

__all__ = ["CLAIMS"]

#: App. F.2's quartic example: eta, alpha, c (F = c x^4 / 24), delta^2, x_0 / delta, steps.
QUARTIC = (0.01, 0.01, -0.075, 4.0, 0.5, 120_000)


def _attracting(_: object) -> Measure:
    eta, alpha, c, d2, start, steps = QUARTIC
    delta, beta = float(np.sqrt(d2)), 2 * alpha / d2
    dF, d2F = (lambda x: c * x**3 / 6), (lambda x: c * x**2 / 2)
    y_star = float(quadratic.limiting_y(dF(delta), delta))
    out = quadratic.generalized_xy_map(start * delta, y_star, lr=eta, alpha=alpha, beta=beta,
                                       dF=dF, d2F=d2F, steps=steps)  # fmt: skip
    s_inf = float(quadratic.limiting_sharpness(dF(delta), d2F(delta), delta, eta))
    err = abs(float(out["sharpness"][-1]) - s_inf)
    return Measure(err, detail=f"S_inf - 2/eta = {s_inf - 2 / eta:+.4g}")


def _sinf_closer(run: Any) -> Measure:
    a = arrays_of(run)
    if any(k not in a for k in PROFILE_KEYS):
        return Measure(missing="no App. F line profiles (diagnostics off)")
    eta = lr_of(run)
    s = np.asarray(a["gd/sharpness"], dtype=float)
    observed = window_mean(two_step_average(s) if s.size > 1 else s)
    s_inf = window_mean(profile_series(a, eta)["limiting_sharpness"])
    value = abs(observed - s_inf) / abs(observed - 2 / eta)
    return Measure(value, detail=f"(S - 2/eta)/(2/eta) = {(observed - 2 / eta) * eta / 2:+.3g}, "
                   f"(S_inf - 2/eta)/(2/eta) = {(s_inf - 2 / eta) * eta / 2:+.3g}")  # fmt: skip


@lru_cache(maxsize=1)
def _scale_invariant() -> tuple[float, float, float]:
    """The identity checks' largest exact error and Lemma 9's two exponents (computed once)."""
    import jax

    from eos import curvature
    from eos.theory import scale_invariant as si

    problem = si.make_problem()
    theta_rand = problem.init(jax.random.PRNGKey(7), norm=2.7)
    critical = si.critical_point_on_sphere(problem, problem.init(jax.random.PRNGKey(1), norm=1.0))
    rows = si.identity_checks(problem, theta_rand, critical.theta_bar, 0.1)
    exact = [r["corrected"] for r in rows
             if "finite" not in r["quantity"] and "needs" not in r["claim"]]  # fmt: skip

    def rho(order: int):
        fn = curvature.rho3 if order == 3 else curvature.rho4
        return lambda f, x: fn(f, x, tol=1e-9, max_iters=2000, num_starts=8)[0]

    res = si.lemma9_scaling(problem, [critical.theta_bar], np.geomspace(0.01, 0.5, 4),
                            rho3_fn=rho(3), rho4_fn=rho(4))  # fmt: skip
    return max(exact), float(res.exponent3), float(res.exponent4)


def _appH(index: int):
    return lambda _: Measure(_scale_invariant()[index])


#: The App. F and App. H claims, in ledger order.
CLAIMS: list[Claim] = [
    Claim("appF-attracting", "App. F.2, eq. (11)", "On an attracting sub-quadratic profile the "
          "sharpness converges to S_inf, not to 2/eta (value: final |S_t - S_inf|).", "theory",
          _attracting, Rule("<", 1e-9)),
    Claim("appF-sinf-closer", "App. F.2, eq. (11)", "The observed sharpness is closer to the "
          "limiting sharpness S_inf than to 2/eta (value: |S - S_inf| / |S - 2/eta|).", "track",
          _sinf_closer, Rule("<", 1.0)),
    Claim("appH-identities", "App. H, Lemmas 7-11", "The scale-invariant identities (corrected "
          "where App. H misprints them) hold to round-off (value: largest relative error).",
          "theory", _appH(0), Rule("<", 1e-10)),
    Claim("appH-lemma9-rho3", "App. H, Lemma 9", "rho_3 at S = 2/eta scales as eta^(-3/2) "
          "(value: fitted exponent).", "theory", _appH(1), Rule("within", (-1.51, -1.49))),
    Claim("appH-lemma9-rho4", "App. H, Lemma 9", "rho_4 at S = 2/eta scales as eta^(-2) "
          "(value: fitted exponent).", "theory", _appH(2), Rule("within", (-2.01, -1.99))),
]  # fmt: skip
