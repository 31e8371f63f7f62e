"""Published ``paper``-profile runs: a compact bundle in the repository, shown by the book
beside the live runs of the current profile.

A reader's laptop cannot finish the paper's runs (5,000 examples, the full architectures of
App. D, thousands of tracked float64 steps), so finished ``paper``-profile runs are *published*
into the repository's ``published/`` folder, one file per experiment:
``published/<name>.npz``, written by :func:`publish` (``python -m eos publish NAME``), never by
hand. Each file holds

* the recorded series of the run (the to-instability ``history/*`` and the per-step
  ``trajectory/*`` arrays the chapters plot and tabulate; no parameter vectors), in their
  recorded dtypes, so a figure drawn from the bundle is the figure of the run;
* a manifest with the run's configuration, metadata (instability step, steps done, stop
  reason) and provenance (profile, package version, git commit, JAX version, device, dates,
  wall time per phase), the publication date, and a *data fingerprint*: the SHA-256 of every
  data file the run's loader reads, as found under the run's data root when it was published;
* a checksum over the arrays (:func:`eos.results.save_npz`): a damaged file is refused.

:func:`load_published` returns the same :class:`~eos.experiments.Result` a fresh run gives;
:func:`published` lists the bundle. ``EOS_PUBLISHED=off`` makes :func:`available` report
nothing, so a chapter then shows only its live runs; ``EOS_PUBLISHED_DIR`` points at another
bundle (tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eos import results as _results
from eos.data import fingerprint as _fingerprint
from eos.experiments.config import ExperimentConfig, key_view
from eos.experiments.record import Result
from eos.experiments.registry import get_config

__all__ = [
    "PUBLISHED_ENV",
    "available",
    "bundle_dir",
    "data_files",
    "data_fingerprint",
    "find_finished",
    "load_published",
    "local_data_matches",
    "publish",
    "published",
]

PUBLISHED_ENV = "EOS_PUBLISHED"
DIR_ENV = "EOS_PUBLISHED_DIR"
PUBLISHED_PROFILE = "paper"
_SERIES_PREFIXES = ("history/", "trajectory/")


def bundle_dir() -> Path:
    """The bundle folder: ``$EOS_PUBLISHED_DIR``, else ``published/`` at the repository root."""
    env = os.environ.get(DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "published"


def _path(name: str) -> Path:
    return bundle_dir() / f"{name}.npz"


# --------------------------------------------------------------------------------------------
# data identity
# --------------------------------------------------------------------------------------------
def data_files(config: ExperimentConfig, root: str | os.PathLike) -> list[Path]:
    """The files of ``config``'s data set under the data root ``root`` that its loader may
    read (:func:`eos.data.fingerprint.data_files`; held-out files when the run evaluates
    held-out accuracy)."""
    return _fingerprint.data_files(config.dataset, root, held_out=bool(config.test_n))


def data_fingerprint(config: ExperimentConfig, root: str | os.PathLike) -> dict[str, str]:
    """``{relative path: sha256}`` of :func:`data_files` (:func:`eos.data.fingerprint.fingerprint`,
    memoised by path, size and mtime); raises ``FileNotFoundError`` naming a missing file."""
    return _fingerprint.fingerprint(config.dataset, root, held_out=bool(config.test_n))


def local_data_matches(result: Result) -> bool | None:
    """Whether the data under the local data root (``EOS_DATA_DIR``) are the data a published
    run was computed from: ``True``/``False``, or ``None`` when the local files are missing."""
    from eos import data as _data

    recorded = result.provenance.get("data_fingerprint", {})
    try:
        local = data_fingerprint(result.config, _data.data_root())
    except FileNotFoundError:
        return None
    return local == recorded


# --------------------------------------------------------------------------------------------
# publishing
# --------------------------------------------------------------------------------------------
def find_finished(name: str, results_dir: str | os.PathLike | None = None) -> Path:
    """The newest finished result file of experiment ``name`` under the results folder
    (default ``EOS_RESULTS_DIR``), whatever the source version that computed it; raises
    ``FileNotFoundError`` when there is none."""
    root = Path(results_dir) if results_dir is not None else _results.results_root()
    found = []
    for path in root.glob(f"*/{_results.RESULT_FILE}"):
        try:
            _, manifest = _results.load_npz(path)
        except _results.CorruptResultError:
            continue
        if manifest.get("config", {}).get("name") == name:
            found.append((manifest.get("provenance", {}).get("finished", ""), path))
    if not found:
        raise FileNotFoundError(
            f"no finished run of {name!r} under {root} (run it with `python -m eos run {name} "
            f"--profile {PUBLISHED_PROFILE}`, or point --results / EOS_RESULTS_DIR at its folder)"
        )
    return max(found)[1]


def _check_publishable(name: str, manifest: dict[str, Any], profile: str) -> ExperimentConfig:
    """The registered configuration the run must match; ``ValueError`` when it does not."""
    prov = manifest.get("provenance", {})
    # registered_under: the profiles whose registered configuration of this name the run's
    # configuration is (the process's EOS_PROFILE, provenance["profile"], may differ when the
    # profile was chosen with --profile)
    if profile not in prov.get("registered_under", []):
        raise ValueError(
            f"refusing to publish {name!r}: it is not a {profile!r}-profile run (its "
            f"configuration is registered under {prov.get('registered_under', [])})"
        )
    meta = manifest.get("meta", {})
    if meta.get("stop_reason") in (None, "", "interrupted") or not prov.get("finished"):
        raise ValueError(f"refusing to publish {name!r}: the run is not finished")
    registered = get_config(name, profile=profile)
    recorded = ExperimentConfig.from_dict(manifest["config"])
    if key_view(recorded.to_dict()) != key_view(registered.to_dict()):
        raise ValueError(
            f"refusing to publish {name!r}: its configuration differs from the registered "
            f"{profile!r} configuration (recorded {recorded.to_dict()}, registered "
            f"{registered.to_dict()})"
        )
    return registered


def publish(
    name: str,
    *,
    results_dir: str | os.PathLike | None = None,
    profile: str = PUBLISHED_PROFILE,
) -> Path:
    """Copy the finished run of ``name`` into the bundle; returns the bundle file.

    Refuses (``ValueError``) a run that was not computed under ``profile`` (``"paper"``; other
    values are for tests), that is not finished, or whose configuration is not the registered
    one; a damaged result file fails its checksum (:class:`eos.results.CorruptResultError`).
    """
    source = find_finished(name, results_dir)
    arrays, manifest = _results.load_npz(source)
    config = _check_publishable(name, manifest, profile)
    prov = dict(manifest.get("provenance", {}))
    prov["data_fingerprint"] = data_fingerprint(config, prov.get("data_root", ""))
    prov["published"] = _results.utc_now()
    prov["published_from"] = str(source)
    series = {k: v for k, v in arrays.items() if k.startswith(_SERIES_PREFIXES)}
    out = {"kind": "published", "config": manifest["config"], "meta": manifest.get("meta", {})}
    out["provenance"] = prov
    return _results.save_npz(_path(name), series, out)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def load_published(name: str) -> Result:
    """The published run of ``name`` as a :class:`~eos.experiments.Result` (``theta_star``,
    ``u_star`` and ``params`` are ``None``: the bundle holds no parameter vectors)."""
    path = _path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"{name!r} is not published: no {path} (`python -m eos published` lists the bundle)"
        )
    arrays, manifest = _results.load_npz(path)
    config = ExperimentConfig.from_dict(manifest["config"])

    def part(prefix: str) -> dict:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    return Result(
        config=config,
        provenance=manifest.get("provenance", {}),
        history=part("history/"),
        trajectory=part("trajectory/"),
        meta=manifest.get("meta", {}),
        path=path,
    )


def available(name: str) -> bool:
    """Whether a published run of ``name`` exists and is to be shown (``EOS_PUBLISHED`` is not
    ``off``)."""
    if os.environ.get(PUBLISHED_ENV, "on").strip().lower() in ("off", "0", "false", "no"):
        return False
    return _path(name).exists()


def published() -> list[dict[str, Any]]:
    """One row per bundle file: name, device, date, commit, steps, stop reason, data
    fingerprint (first 12 hex digits of each file's hash) and size."""
    rows = []
    for path in sorted(bundle_dir().glob("*.npz")):
        r = load_published(path.stem)
        p = r.provenance
        rows.append(
            {
                "name": r.name,
                "device": p.get("device", "?"),
                "finished": p.get("finished", "?"),
                "commit": str(p.get("git", {}).get("commit", "?"))[:12],
                "instability_step": r.instability_step,
                "steps": r.steps_done,
                "stop_reason": r.stop_reason,
                "data": {k: v[:12] for k, v in p.get("data_fingerprint", {}).items()},
                "kib": round(path.stat().st_size / 1024, 1),
            }
        )
    return rows
