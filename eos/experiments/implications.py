"""The runs of the implications chapter (Sec. 7.3, Sec. 8.2, App. G.1) as ``"spectrum"``
experiments: gradient descent (or SAM) from the initialisation, or from the end of another run,
recording the top of the Hessian spectrum (:func:`eos.dynamics.run_gd`).

* ``fig5-multiple-unstable`` (Sec. 8.2, Fig. 5): one long run at a constant ``eta`` that
  progressive sharpening drives past ``2/eta`` with several eigenvalues, top ``k`` tracked.
* ``fig6-c<c>`` (App. G.1, Fig. 6): constant ``eta = c / S(theta_0)``, so that every run starts
  stable and the larger ones reach the edge of stability sooner; the train and test accuracy
  are recorded. ``fig6-inverse-sharpness``: the schedule ``eta_t = 1/S(theta_t)``.
* ``warmup-jump`` / ``warmup-linear`` (Sec. 7.3): from the end of the smallest ``c`` run of
  Fig. 6 (sharpness ``S_s ~ 2/eta_s``) to ``eta_0 = 2 r / S_s``, ``r = 4``: at once, or
  linearly from ``eta_s`` over ``warmup_steps`` steps.
* ``sam`` (Sec. 7.3): SAM with radius ``rho`` at the largest learning rate of Fig. 6.

Sizes per profile: ``smoke`` a tiny MLP on 64 CIFAR-10 images averaged to 4 x 4 pixels (every
run shares one compiled loop); ``quick`` a width-64 MLP on 8 x 8 images (a reduced ResNet on
8 x 8 images is unusably sharp -- GroupNorm over 2 x 2 maps -- and a 16 x 16 one too slow on 2
CPU cores, so the MLP stands in for Fig. 6's ResNet); ``paper`` the 3-layer MLP of App. D on
5,000 full-size images for Fig. 5 and App. G.1's ResNet18 on all of CIFAR-10 for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eos.experiments.config import Experiment, ExperimentConfig

__all__ = ["FIG6_FACTORS", "SAM_RHO", "WARMUP_FACTOR", "implications_experiments"]

# The eigen-solves of these runs (relative residual, block steps): looser than the default, as
# the chapter reads eigenvalues to 3 digits.
_SOLVER = dict(eig_tol=1e-4, eig_max_iters=30)
_MLP_SMOKE = dict(model="mlp", model_kwargs=dict(width=16, depth=2), n=64, pool=8)
_MLP_QUICK = dict(model="mlp", model_kwargs=dict(width=64, depth=2), pool=4)
# Fig. 5: k eigenvalues at every step; chunk_steps only sets the compiled loop's length.
_FIG5 = {
    "smoke": dict(_MLP_SMOKE, lr=0.3, track_steps=250, k=4, sharpness_every=1, chunk_steps=50,
                  checkpoint_every=50),
    "quick": dict(_MLP_QUICK, n=500, lr=0.05, track_steps=1600, k=6, sharpness_every=1,
                  chunk_steps=100, checkpoint_every=400),
    "paper": dict(model="mlp", model_kwargs=dict(width=200, depth=2), n=5000, lr=2 / 100,
                  track_steps=6000, k=6, sharpness_every=1, chunk_steps=100,
                  checkpoint_every=1000),
}  # fmt: skip
#: Fig. 5's analysis window (steps) of the period-2 regularity, per profile.
_FIG5_WINDOW = {"smoke": 12, "quick": 16, "paper": 16}
# Fig. 6: the sharpness every `sharpness_every` steps (odd, so that both parities of the
# period-2 oscillation S_t ~ 2/eta + y_t + (grad S . u) x_t of Theorem 1 are sampled), the
# train and test accuracy every `chunk_steps` steps. Every run of the chapter except Fig. 5
# shares these sizes (smoke: Fig. 5's objective too, hence one compiled loop).
_FIG6 = {
    "smoke": dict(_MLP_SMOKE, test_n=256, track_steps=200, sharpness_every=5, chunk_steps=50,
                  k=4, checkpoint_every=50),
    "quick": dict(_MLP_QUICK, n=1000, test_n=1000, track_steps=1000, sharpness_every=9,
                  chunk_steps=50, k=1, checkpoint_every=200),
    "paper": dict(model="resnet18", model_kwargs=dict(widths=(16, 32, 64, 128),
                  blocks_per_stage=2), n=50_000, test_n=10_000, chunk_size=5000,
                  track_steps=10_000, sharpness_every=21, chunk_steps=100, k=1,
                  checkpoint_every=1000),
}  # fmt: skip
#: Fig. 6's constant learning rates ``eta = c / S(theta_0)``: the factors ``c`` per profile.
FIG6_FACTORS = {"smoke": (0.5, 1.0, 1.5), "quick": (0.5, 1.0, 1.5), "paper": (0.25, 0.5, 1.0, 1.5)}
# eta_t = 1/S(theta_t) with S from at most this many steps back (1: a fresh solve every step)
_INVERSE_EVERY = {"smoke": 1, "quick": 5, "paper": 5}
#: Warmup's target: ``S_s = r * 2/eta_0`` with ``r = WARMUP_FACTOR``.
WARMUP_FACTOR = 4.0
_WARMUP = {
    "smoke": dict(warmup_steps=150, track_steps=250),
    "quick": dict(warmup_steps=300, track_steps=600),
    "paper": dict(warmup_steps=1000, track_steps=3000),
}
#: SAM's radius.
SAM_RHO = 0.05
_GROUP = "implications"


def _spectrum(name: str, **fields: Any) -> ExperimentConfig:
    return ExperimentConfig(
        name=name,
        kind="spectrum",
        dataset="cifar10",
        criterion="categorical_mse",
        **_SOLVER,
        **fields,
    )


def _fig5(profile: str) -> ExperimentConfig:
    return _spectrum("fig5-multiple-unstable", **_FIG5[profile])


def _fig6_name(c: float) -> str:
    return f"fig6-c{c:g}"


def _fig6(c: float) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        return _spectrum(_fig6_name(c), lr=c, relative_lr=True, **_FIG6[profile])

    return resolve


def _fig6_inverse(profile: str) -> ExperimentConfig:
    fields = dict(_FIG6[profile], sharpness_every=_INVERSE_EVERY[profile])
    return _spectrum("fig6-inverse-sharpness", lr=1.0, schedule="inverse_sharpness", **fields)


def _warmup(linear: bool) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        start = _fig6(min(FIG6_FACTORS[profile]))(profile)
        w = _WARMUP[profile]
        fields = dict(_FIG6[profile], test_n=0, track_steps=w["track_steps"])
        if linear:
            fields.update(schedule="linear_warmup", warmup_steps=w["warmup_steps"])
        name = "warmup-linear" if linear else "warmup-jump"
        return _spectrum(name, lr=2 * WARMUP_FACTOR, relative_lr=True, start=start, **fields)

    return resolve


def _sam(profile: str) -> ExperimentConfig:
    c = max(FIG6_FACTORS[profile])
    return _spectrum("sam", lr=c, relative_lr=True, rho=SAM_RHO, **_FIG6[profile])


def implications_experiments() -> dict[str, Experiment]:
    """The chapter's runs, in the order it shows them."""
    entries = [
        Experiment(
            "fig5-multiple-unstable",
            "MLP+MSE on pooled CIFAR10: several eigenvalues cross 2/eta (top-k spectrum)",
            "Sec. 8.2, Fig. 5",
            ("fig5", _GROUP),
            _fig5,
            analysis={p: {"window": w} for p, w in _FIG5_WINDOW.items()},
        ),
    ]
    factors = sorted({c for cs in FIG6_FACTORS.values() for c in cs})
    for c in factors:
        profiles = tuple(p for p, cs in FIG6_FACTORS.items() if c in cs)
        entries.append(
            Experiment(
                _fig6_name(c),
                f"gradient descent at eta = {c:g}/S(theta_0)",
                "App. G.1, Fig. 6",
                ("fig6", _GROUP),
                _fig6(c),
                profiles,
            )
        )
    entries += [
        Experiment(
            "fig6-inverse-sharpness",
            "the schedule eta_t = 1/S(theta_t)",
            "App. G.1, Fig. 6",
            ("fig6", _GROUP),
            _fig6_inverse,
        ),
        Experiment(
            "warmup-jump",
            "from the end of Fig. 6's smallest eta: jump to eta_0",
            "Sec. 7.3",
            ("warmup", _GROUP),
            _warmup(linear=False),
        ),
        Experiment(
            "warmup-linear",
            "from the same point: linear warmup to eta_0",
            "Sec. 7.3",
            ("warmup", _GROUP),
            _warmup(linear=True),
        ),
        Experiment(
            "sam",
            f"SAM (rho = {SAM_RHO:g}) at Fig. 6's largest eta",
            "Sec. 7.3",
            ("sam", _GROUP),
            _sam,
        ),
    ]
    return {e.name: e for e in entries}
