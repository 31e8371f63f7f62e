"""The settings of App. D and their experiments: App. E/G's tracked runs and Fig. 1's run.

Every (architecture, data, loss) setting of App. D (:data:`SETTINGS`) is registered once per
learning rate of Apps. E and G as a ``"track"`` experiment named ``<slug>-lr<eta>`` (e.g.
``mlp-mse-cifar10-lr0.02``), and Fig. 1 as the ``"gd"`` experiment ``fig1-mlp``. Per profile
(:mod:`eos.profiles`) they resolve to:

* ``paper``: App. D's settings -- 5,000 examples, the full architectures of App. D.1, the
  learning rates of Apps. E and G, tracking until the second Hessian eigenvalue at the
  constrained trajectory reaches ``1.9/eta`` (App. D.3) or ``track_steps`` run out;
* ``quick``: subsets and step counts for a few minutes per run on a 2-core CPU;
* ``smoke``: seconds per run (tiny data, tiny widths, few steps), exercising the whole pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eos.experiments.config import Experiment, ExperimentConfig

__all__ = [
    "QUICK_LRS",
    "QUICK_LR_RESNET",
    "QUICK_LR_TRANSFORMER_MSE",
    "SETTINGS",
    "Setting",
    "app_experiments",
    "setting_of",
]


@dataclass(frozen=True)
class Setting:
    """One (architecture, data, loss) setting of App. D with its per-profile sizes."""

    slug: str
    title: str
    model: str
    dataset: str
    criterion: str
    lrs: tuple[float, ...]  # App. E / App. G learning rates
    fig4_lr: float | None
    model_kwargs: Mapping[str, Mapping[str, Any]]  # profile -> kwargs
    n: Mapping[str, int]  # profile -> number of examples
    smoke_lr: float  # smoke runs use one larger lr so instability comes fast
    quick_lr: float | None = None  # the quick profile's lr for all names, when set
    data_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    chunk_size: Mapping[str, int | None] = field(default_factory=dict)


# Per-profile run lengths shared by every "track" experiment.
_TRACK_STEPS = {
    # paper: App. D.3 and the authors' code (2000 tracked steps, eigengap check every 50 steps;
    # max_steps only caps the search for instability)
    "paper": dict(max_steps=100_000, track_steps=2_000, diag_every=50, lambda2_every=50,
                  checkpoint_every=100),
    # quick: measured on the 2-core CPU (MLP, n=1000, eta=0.02: instability at step 303; the
    # App. D.3 eigengap stop lambda2 >= 1.9/eta comes after ~105 tracked steps, just after the
    # first blow-up and self-stabilization; a cold make book on 27 Nov 2026 took 3.8 s to
    # instability and 65 s to track, in row-space coordinates). track_steps caps the other
    # settings' runs at 2-4 min each; App. E's diagnostics every 25 steps, the second eigenvalue
    # every 15.
    "quick": dict(max_steps=20_000, track_steps=150, diag_every=25, lambda2_every=15,
                  checkpoint_every=25),
    # smoke: exercises every code path in seconds to a couple of minutes (compile-dominated)
    "smoke": dict(max_steps=100, track_steps=4, diag_every=4, lambda2_every=2,
                  checkpoint_every=2),
}  # fmt: skip

# Smoke learning rates: one per setting (not the name's), ~2/(1.5 S0) with S0 the initial
# sharpness of the tiny smoke model, so that instability comes within ~15 steps. All learning
# rates of a setting therefore share one smoke run (same cache key).
_MLP = {
    "paper": dict(width=200, depth=2),
    "quick": dict(width=200, depth=2),
    "smoke": dict(width=16, depth=2),
}
# Quick-profile sizes, measured on the 2-core CPU (one core per run, 26 Nov 2026; a run on two
# cores takes roughly 0.6 times as long). The aim: a few minutes per run and one pass through
# the four stages of Sec. 4.1 before the App. D.3 eigengap stop (lambda2 >= 1.9/eta).
# - CNN+MSE, width 8, n=64: instability at step 115 (18 s); blowup, self-stabilization and
#   return to stability within 45 tracked steps (290 s), then the eigengap stop (10 classes on 64
#   images: the top eigenvalues are close; with n=256, width 4, lambda2 was 0.99 * 2/eta already
#   at instability).
# - CNN+logistic, width 4, n=128: instability at step 724 (58 s); 150 tracked steps (430 s), two
#   complete cycles.
# - Transformer+logistic, hidden 16, phrases cut to 24 tokens, n=256: instability at step 1,203
#   (25 s); 150 tracked steps (353 s) with blowup, self-stabilization and return to stability.
#   (64 phrases are fitted before the sharpness reaches 2/eta.)
# - Transformer+MSE, hidden 32, 24 tokens, n=256: at the paper's eta = 0.002 instability comes at
#   step 6,265 (106 s) but 150 tracked steps (499 s) stay in progressive sharpening (|x| ~ 1e-4
#   delta), so the quick profile uses the larger QUICK_LR_TRANSFORMER_MSE: at eta = 0.005
#   instability comes at step 939 (28 s) and 150 tracked steps (553 s) hold one complete cycle.
# - ResNet18+MSE: at the sizes a CPU affords the paper's eta = 0.002 never reaches instability
#   (widths 4-32, n=16: the network fits the data first; the sharpness peaks at 619 near step
#   1,500, below 2/eta = 1,000, then falls; at eta = 0.004 and 0.005 it settles at 52.9) and a
#   tracked step of that network costs over 10 s, so the quick profile runs the smoke-size ResNet
#   (two stages of one block, widths 4 and 8) on 16 images at QUICK_LR_RESNET: instability at step
#   15 (9 s), blowup, self-stabilization and return to stability within 30 tracked steps (one
#   core: then the eigengap stop, 224 s; a cold make book on two cores: 150 steps, one complete
#   cycle, 459 s). At this size the top two eigenvalues are close and the constrained trajectory
#   strays from S = 2/eta (by 36% and 66% in those two runs), so the quick ResNet run shows the
#   pipeline, not the theory's regime; the paper profile runs the full ResNet18.
# - The paper's CNN width 32, tried on 3 Dec 2026 once the im2col lowering of the convolutions
#   (eos.convolution) had made the quick CNN's tracked step 6.8x faster (6.2 s -> 0.92 s): CNN+MSE
#   on 64 images reaches instability at step 81 (12.8 s) but stops at the eigengap after 30
#   tracked steps (123 s, 4.1 s per step) with the blowup only (one quarter turn: its top two
#   eigenvalues are too close at that size); CNN+logistic on 128 images reaches instability at
#   step 513 (31 s) and spends 150 tracked steps (751 s, 5.0 s per step) before any blowup. The
#   widths below show the four stages at a fifth of that time, so they stay.
_CNN_MSE = {"paper": dict(width=32), "quick": dict(width=8), "smoke": dict(width=8)}
_CNN_LOGISTIC = {"paper": dict(width=32), "quick": dict(width=4), "smoke": dict(width=8)}
_RESNET = {
    "paper": dict(widths=(16, 32, 64, 128), blocks_per_stage=2),
    "quick": dict(widths=(4, 8), blocks_per_stage=1),
    "smoke": dict(widths=(4, 8), blocks_per_stage=1),
}
_TRANSFORMER_MSE = {
    "paper": dict(hidden_size=64, num_layers=2, num_heads=2, mlp_size=64),
    "quick": dict(hidden_size=32, num_layers=2, num_heads=2, mlp_size=32),
    "smoke": dict(hidden_size=8, num_layers=1, num_heads=2, mlp_size=8),
}
_TRANSFORMER_LOGISTIC = {
    "paper": dict(hidden_size=64, num_layers=2, num_heads=2, mlp_size=64),
    "quick": dict(hidden_size=16, num_layers=2, num_heads=2, mlp_size=16),
    "smoke": dict(hidden_size=8, num_layers=1, num_heads=2, mlp_size=8),
}
# quick MLP: n=1000 (n=500 and 250 hit the eigengap stop after 60 and 40 tracked steps)
_N_IMAGES = {"paper": 5_000, "quick": 1_000, "smoke": 32}
_N_CNN_MSE = {"paper": 5_000, "quick": 64, "smoke": 16}
_N_CNN_LOGISTIC = {"paper": 5_000, "quick": 128, "smoke": 16}
_N_RESNET = {"paper": 5_000, "quick": 16, "smoke": 8}
_N_SST2 = {"paper": 5_000, "quick": 256, "smoke": 16}
_SST2_DATA = {"paper": {}, "quick": {"max_len": 24}, "smoke": {"max_len": 16}}
# Ghost batches (chunked sums over the examples, same numbers up to rounding) bound the memory
# of the convolutional and attention models at the paper's 5,000 examples: unchunked, a CNN+MSE
# tracked step asked an H100 for a 30.5 GiB buffer (the batched evaluation at four points in
# float64) and failed.
_CHUNK_CNN = {"paper": 1_000}
_CHUNK_RESNET = {"paper": 250}
_CHUNK_SST2 = {"paper": 1_000}
# Quick-profile learning rates of the two settings whose App. E/G rates cannot reach a cycle in
# minutes on a CPU (see above); every name of the setting resolves to it under quick, as every
# name resolves to smoke_lr under smoke, and captions state the learning rate.
QUICK_LR_RESNET = 0.34
QUICK_LR_TRANSFORMER_MSE = 0.005

SETTINGS: dict[str, Setting] = {
    s.slug: s
    for s in (
        Setting("mlp-mse-cifar10", "MLP+MSE on CIFAR10", "mlp", "cifar10", "categorical_mse",
                (0.02, 0.01, 0.005, 0.002), 0.002, _MLP, _N_IMAGES, smoke_lr=0.02),
        Setting("cnn-mse-cifar10", "CNN+MSE on CIFAR10", "cnn", "cifar10", "categorical_mse",
                (0.02, 0.005, 0.002), 0.005, _CNN_MSE, _N_CNN_MSE, smoke_lr=0.13,
                chunk_size=_CHUNK_CNN),
        Setting("cnn-logistic-cifar10cd", "CNN+Logistic on CIFAR10 (cats vs dogs)", "cnn",
                "cifar10_binary", "logistic", (0.02, 0.01, 0.005, 0.002), None, _CNN_LOGISTIC,
                _N_CNN_LOGISTIC, smoke_lr=0.82, chunk_size=_CHUNK_CNN),
        Setting("resnet18-mse-cifar10cd", "ResNet18+MSE on CIFAR10 (cats vs dogs)", "resnet18",
                "cifar10_binary", "binary_mse", (0.002, 0.001), None, _RESNET, _N_RESNET,
                smoke_lr=0.34, quick_lr=QUICK_LR_RESNET, chunk_size=_CHUNK_RESNET),
        Setting("transformer-mse-sst2", "Transformer+MSE on SST2", "transformer", "sst2",
                "binary_mse", (0.002, 0.001), 0.001, _TRANSFORMER_MSE, _N_SST2, smoke_lr=0.22,
                quick_lr=QUICK_LR_TRANSFORMER_MSE, data_kwargs=_SST2_DATA,
                chunk_size=_CHUNK_SST2),
        Setting("transformer-logistic-sst2", "Transformer+Logistic on SST2", "transformer",
                "sst2", "logistic", (0.02, 0.01, 0.005, 0.002), None, _TRANSFORMER_LOGISTIC,
                _N_SST2, smoke_lr=1.5, data_kwargs=_SST2_DATA, chunk_size=_CHUNK_SST2),
    )
}  # fmt: skip


def _lr_tag(lr: float) -> str:
    return f"lr{lr:g}"


def _profile_lr(setting: Setting, lr: float, profile: str) -> float:
    """The learning rate a name with App. E/G rate ``lr`` resolves to under ``profile``."""
    if profile == "smoke":
        return setting.smoke_lr
    if profile == "quick" and setting.quick_lr is not None:
        return setting.quick_lr
    return lr


def _track_resolver(setting: Setting, lr: float, name: str) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        return ExperimentConfig(
            name=name,
            kind="track",
            model=setting.model,
            model_kwargs=setting.model_kwargs[profile],
            dataset=setting.dataset,
            n=setting.n[profile],
            data_kwargs=setting.data_kwargs.get(profile, {}),
            criterion=setting.criterion,
            lr=_profile_lr(setting, lr, profile),
            generalized=True,
            chunk_size=setting.chunk_size.get(profile),
            **_TRACK_STEPS[profile],
        )

    return resolve


#: Fig. 1's other learning rates (the paper's is eta = 2/100, ``fig1-mlp``): name -> (learning
#: rate, its smoke-profile stand-in or None, the profiles that run it). Smaller learning rates
#: need ~1/eta times more steps of progressive sharpening, so the CPU profiles run fewer.
FIG1_OTHER_LRS: dict[str, tuple[float, float | None, tuple[str, ...]]] = {
    "fig1-mlp-lr0.04": (0.04, 0.025, ("smoke", "quick", "paper")),
    "fig1-mlp-lr0.01": (0.01, None, ("quick", "paper")),
    "fig1-mlp-lr0.005": (0.005, None, ("paper",)),
}


def _fig1_resolver(
    name: str, lr: float, smoke_lr: float | None
) -> Callable[[str], ExperimentConfig]:
    def resolve(profile: str) -> ExperimentConfig:
        lr_p = smoke_lr if profile == "smoke" and smoke_lr is not None else lr
        return dataclasses.replace(_fig1_resolve(profile), name=name, lr=lr_p)

    return resolve


def _fig1_resolve(profile: str) -> ExperimentConfig:
    steps = {
        # Fig. 1: instability after ~2200 steps on 5k images, then edge of stability. max_steps
        # equals the track experiments' so that phase 1 is shared with mlp-mse-cifar10-lr0.02.
        "paper": dict(track_steps=2_000, sharpness_every=10, checkpoint_every=500),
        # quick, measured (27 Nov 2026, row-space coordinates): instability at step 303 (eta=0.02,
        # 3.8 s), 86 (0.04), 963 (0.01, 4.3 s); 500 GD steps with the sharpness every 5 take
        # 11-17 s and show the sharpness hovering at 2/eta
        "quick": dict(track_steps=500, sharpness_every=5, checkpoint_every=250),
        "smoke": dict(track_steps=10, sharpness_every=2, checkpoint_every=4),
    }[profile]
    return ExperimentConfig(
        name="fig1-mlp",
        kind="gd",
        model="mlp",
        model_kwargs=_MLP[profile],
        dataset="cifar10",
        n=_N_IMAGES[profile],
        criterion="categorical_mse",
        lr=SETTINGS["mlp-mse-cifar10"].smoke_lr if profile == "smoke" else 2 / 100,
        generalized=False,
        max_steps=_TRACK_STEPS[profile]["max_steps"],
        **steps,
    )


def app_experiments() -> dict[str, Experiment]:
    """Fig. 1 and the tracked runs of Apps. E and G (with Fig. 4's among them)."""
    reg: dict[str, Experiment] = {}
    reg["fig1-mlp"] = Experiment(
        "fig1-mlp",
        "MLP+MSE on CIFAR10, eta = 2/100: progressive sharpening, then edge of stability "
        "(plain gradient descent)",
        "Fig. 1",
        ("fig1",),
        _fig1_resolve,
    )
    for name, (lr, smoke_lr, profiles) in FIG1_OTHER_LRS.items():
        reg[name] = Experiment(
            name,
            f"MLP+MSE on CIFAR10, eta = {lr:g}: Fig. 1 at another learning rate",
            "Fig. 1",
            ("fig1",),
            _fig1_resolver(name, lr, smoke_lr),
            profiles=profiles,
        )
    for s in SETTINGS.values():
        for lr in s.lrs:
            name = f"{s.slug}-{_lr_tag(lr)}"
            groups = ["app-e", "app-g", s.slug] + (["fig4"] if lr == s.fig4_lr else [])
            refs = "App. E, App. G" + (", Fig. 4" if lr == s.fig4_lr else "")
            reg[name] = Experiment(
                name, f"{s.title}, eta = {lr:g}", refs, tuple(groups), _track_resolver(s, lr, name)
            )
    return reg


#: The App. E/G learning rates that the ``quick`` profile keeps, per setting: the largest one
#: of each setting (:attr:`Setting.lrs`). Progressive sharpening to ``2/eta`` takes roughly
#: ``1/eta`` times longer at smaller learning rates (at the ``quick`` sizes, eta = 0.002 on the
#: MLP had reached sharpness 676 of 2/eta = 1000 after 15,000 steps), and every tracked step
#: costs dozens of float64 Hessian-vector products, so on a 2-core CPU only the largest learning
#: rate of a setting reaches instability and completes a self-stabilization cycle in minutes.
QUICK_LRS: dict[str, tuple[float, ...]] = {slug: (max(s.lrs),) for slug, s in SETTINGS.items()}


def setting_of(name: str) -> str | None:
    """The slug of the setting whose App. E/G experiment ``name`` is, else ``None``."""
    return next((s for s in SETTINGS if name.startswith(s + "-lr")), None)
