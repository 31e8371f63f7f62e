"""On-disk results: atomic array files, cache keys, provenance and checkpoints.

Every experiment result (and every checkpoint) is one ``.npz`` file holding the arrays plus a
JSON *manifest* stored as the array ``__manifest__``. The manifest carries the format version, a
SHA-256 checksum over every array (name, dtype, shape and bytes) and ``"complete": true``.

Atomicity
    Files are written to a temporary file in the destination folder, flushed and ``fsync``-ed,
    then moved into place with :func:`os.replace` (atomic on POSIX and Windows). A reader
    therefore sees either the old file or the new one, never a mixture; and :func:`load_npz`
    re-verifies the checksum, so a truncated or otherwise damaged file (a crash half-way through
    a copy, a full disk, a manual edit) raises :class:`CorruptResultError` instead of being
    read as valid.

Cache keys
    :func:`cache_key` hashes the *computational* configuration of a run together with
    :func:`source_fingerprint`, a hash of the source of the ``eos`` package, and the run's data
    fingerprint (the SHA-256 of every data file its loader reads,
    :func:`eos.data.fingerprint.fingerprint`): other data, or repaired data, give another key.
    Editing any module
    that can change a number (models, data, dynamics, curvature, this runner, ...) therefore
    changes every key, and results computed by older code are never reused; they stay on disk
    until removed by hand. Modules that cannot change results (plotting, the command line) are
    excluded, see :data:`FINGERPRINT_EXCLUDE`.

Where
    The root folder is ``$EOS_RESULTS_DIR`` if set, else ``pooch.os_cache("eos") / "results"``
    (e.g. ``~/.cache/eos/results`` on Linux). :mod:`eos.experiments` stores each run as
    ``<root>/<cache key>/result.npz`` (plus ``checkpoint-after.npz`` while it runs) and the
    shared first phase of the tracked and Fig. 1 runs (gradient descent to instability) as
    ``<root>/instability/<phase-1 key>/instability.npz`` (plus ``checkpoint-instability.npz``);
    every file is written through :func:`eos.experiments.runner.cached_phase`. Old results are
    never deleted automatically; remove the folder to reclaim space.

Shared folders
    Files are created with the permissions the umask allows (``0666 & ~umask``, like any other
    file the user creates; :func:`tempfile.mkstemp` alone would give ``0600``), so a results
    folder shared by a group (e.g. ``umask 002`` and a group-writable, setgid folder) is
    readable by every member. A file that cannot be *read* (permissions) is an ``OSError``,
    never taken for a damaged file and overwritten. :func:`folder_lock` is an advisory
    ``flock`` per result folder: a second identical run waits for the first and then reads its
    result. Temporary files of writers that died (:func:`remove_stale_temporaries`) are
    removed by the next run that holds the folder's lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
RESULTS_ENV = "EOS_RESULTS_DIR"
MANIFEST_KEY = "__manifest__"
RESULT_FILE = "result.npz"
#: Files and folders of the ``eos`` package (relative paths) that cannot change any computed
#: number: plotting and the command line.
FINGERPRINT_EXCLUDE = frozenset({"figures", "cli.py", "__main__.py"})

_PACKAGE_DIR = Path(__file__).resolve().parent


class CorruptResultError(ValueError):
    """A result or checkpoint file exists but is incomplete, damaged or of another format."""


# --------------------------------------------------------------------------------------------
# locations and keys
# --------------------------------------------------------------------------------------------
def results_root() -> Path:
    """The results folder: ``$EOS_RESULTS_DIR``, else ``pooch.os_cache("eos")/"results"``."""
    env = os.environ.get(RESULTS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    from eos.progress import import_pooch

    pooch = import_pooch()

    return Path(pooch.os_cache("eos")) / "results"


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of every ``eos/**/*.py`` except :data:`FINGERPRINT_EXCLUDE`.

    Hashes each file's path relative to the package together with its bytes, in sorted order,
    so the fingerprint changes exactly when the computational source changes.
    """
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(_PACKAGE_DIR).as_posix()
        if rel in FINGERPRINT_EXCLUDE or rel.split("/")[0] in FINGERPRINT_EXCLUDE:
            continue
        h.update(rel.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) used for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def cache_key(
    config: Mapping[str, Any],
    fingerprint: str | None = None,
    data: Mapping[str, str] | None = None,
) -> str:
    """Hash of a computational configuration, the source fingerprint, the data fingerprint
    ``data`` (``{file: sha256}``; omitted when ``None``) and :data:`FORMAT_VERSION`."""
    fp = source_fingerprint() if fingerprint is None else fingerprint
    payload: dict[str, Any] = {"config": dict(config), "source": fp, "format": FORMAT_VERSION}
    if data is not None:
        payload["data"] = dict(data)
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------
def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def git_info() -> dict[str, Any]:
    """Commit of the git checkout holding this ``eos`` package, or ``"unknown"``.

    ``dirty`` says whether tracked files under ``eos/`` differ from that commit (``None`` when
    unknown). An installed (non-checkout) package gives ``{"commit": "unknown", "dirty": None}``.
    """
    unknown = {"commit": "unknown", "dirty": None}
    try:
        top = subprocess.run(
            ["git", "-C", str(_PACKAGE_DIR), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if top.returncode != 0:
            return unknown
        root = Path(top.stdout.strip()).resolve()
        if _PACKAGE_DIR.parent != root and root not in _PACKAGE_DIR.parents:
            return unknown
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return unknown
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "eos"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return unknown


def environment_provenance() -> dict[str, Any]:
    """Versions, device and platform of the running process (no timing, no configuration)."""
    import jax
    import jaxlib

    import eos
    from eos import sharding as _sharding

    devices = jax.devices()
    return {
        "eos_version": eos.__version__,
        "source_fingerprint": source_fingerprint(),
        "git": git_info(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "backend": jax.default_backend(),
        "device": f"{devices[0].platform}:{devices[0].device_kind}",
        "device_count": len(devices),
        # the devices a run's objective shards its examples over (eos.sharding: every local
        # device, or $EOS_DEVICES of them)
        "devices_used": _sharding.describe(_sharding.data_mesh()),
        "x64_enabled": bool(jax.config.jax_enable_x64),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


# --------------------------------------------------------------------------------------------
# atomic npz files with a validated manifest
# --------------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # jax arrays
        return np.asarray(obj).tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def to_jsonable(obj: Any) -> Any:
    """Round-trip ``obj`` through JSON (numpy scalars -> Python numbers, tuples -> lists)."""
    return json.loads(json.dumps(obj, default=_json_default))


def arrays_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and raw bytes, in sorted-name order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(b"\0")
        h.update(a.dtype.str.encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _as_numpy(value: Any, key: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object:
        raise TypeError(f"array {key!r} has dtype object; only numeric/string arrays can be saved")
    return a


def save_npz(
    path: str | os.PathLike, arrays: Mapping[str, Any], manifest: Mapping[str, Any]
) -> Path:
    """Atomically write ``arrays`` and a checksummed ``manifest`` to ``path`` (a ``.npz``).

    The file appears under its final name only once completely written (temp file in the same
    folder + fsync + :func:`os.replace`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {}
    for key, value in arrays.items():
        if key == MANIFEST_KEY:
            raise ValueError(f"array name {MANIFEST_KEY!r} is reserved")
        data[key] = _as_numpy(value, key)
    full = dict(to_jsonable(dict(manifest)))
    full.update(format=FORMAT_VERSION, checksum=arrays_checksum(data), complete=True)
    data[MANIFEST_KEY] = np.frombuffer(json.dumps(full, default=_json_default).encode(), np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_WRITER}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp's 0600 would survive the rename
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # e.g. ENOSPC from write(): name the file
        raise
    try:  # make the rename durable (best effort; not available on every platform)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_npz`, verifying completeness and checksum.

    Raises ``FileNotFoundError`` if absent, ``OSError`` (e.g. ``PermissionError``) if it
    cannot be opened, and :class:`CorruptResultError` if the file is truncated, not an npz
    file, of another format version, or its arrays do not match the checksum.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such result file: {path}")
    with open(path, "rb") as fh:  # permissions, I/O errors: an OSError, not a damaged file
        try:
            with np.load(fh, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError, ...
            raise CorruptResultError(f"{path} is not a readable result file ({exc!r})") from exc
    raw = data.pop(MANIFEST_KEY, None)
    if raw is None:
        raise CorruptResultError(f"{path} has no manifest; it was not written by eos.results")
    try:
        manifest = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptResultError(f"{path} has an unreadable manifest") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise CorruptResultError(
            f"{path} has format {manifest.get('format')!r}, expected {FORMAT_VERSION}"
        )
    if manifest.get("complete") is not True:
        raise CorruptResultError(f"{path} is marked incomplete")
    if manifest.get("checksum") != arrays_checksum(data):
        raise CorruptResultError(f"{path} failed its checksum (damaged or half-written)")
    return data, manifest


# --------------------------------------------------------------------------------------------
# shared folders: permissions, writers, locks
# --------------------------------------------------------------------------------------------
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", platform.node().split(".")[0]) or "host"


#: Names the writer of a temporary file: ``pid<pid>@<host>`` (see remove_stale_temporaries).
_WRITER = f"pid{os.getpid()}@{_host()}"
_WRITER_RE = re.compile(r"\.pid(\d+)@([A-Za-z0-9-]+)\.")
LOCK_FILE = ".lock"


def _umask() -> int:
    """The process's umask (read without changing it where ``/proc`` allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files (``.*.tmp``) that dead writers left in ``folder``; returns them.

    Call it while holding :func:`folder_lock`: every writer of a result folder holds its lock,
    so a temporary file there belongs to a writer that was killed mid-write, except one named
    after a live process of this host (kept)."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        m = _WRITER_RE.search(path.name)
        if m and m.group(2) == _host() and _alive(int(m.group(1))):
            continue
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def _lock_fd(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file: flock works on a read-only descriptor
        return os.open(path, os.O_RDONLY)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, waiting: str = "") -> Iterator[Path]:
    """Hold the advisory lock of ``folder`` (created if needed) for the ``with`` block.

    A second process asking for the same folder waits (saying so on stderr, with ``waiting``)
    until the first leaves the block. On leaving, the lock file is removed and the folder too
    if it is empty (a failed or interrupted run leaves no empty folder behind). Without
    ``fcntl`` (Windows) the block runs unlocked."""
    folder = Path(folder)
    path = folder / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks on this platform
        fcntl = None
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = _lock_fd(path)
        except FileNotFoundError:  # the previous holder removed the empty folder just now
            continue
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another process computing {folder} {waiting}".rstrip(),
                      file=sys.stderr, flush=True)  # fmt: skip
                fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the holder before us may have removed the file: lock the current one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield folder
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
class Checkpointer:
    """Atomic checkpoints of one phase of a run: ``<folder>/checkpoint-<phase>.npz``.

    :meth:`save` is what the dynamics' ``on_checkpoint`` callback calls with its state (a dict
    of numpy arrays); :meth:`load` returns the last complete state (or ``None``), suitable as
    ``resume_from``. ``tag`` names the coordinates the state is written in (e.g. the row-space
    basis of :mod:`eos.reduction`); a checkpoint with another tag is not resumed from. A damaged
    or mismatched checkpoint is ignored (and reported in :attr:`discarded`), since
    the run can always restart the phase from scratch.
    """

    def __init__(self, folder: str | os.PathLike, phase: str, *, tag: str | None = None) -> None:
        self.path = Path(folder) / f"checkpoint-{phase}.npz"
        self.phase = phase
        self.tag = tag
        self.saves = 0
        self.discarded: list[str] = []

    def save(self, state: Mapping[str, Any]) -> None:
        manifest = {"kind": "checkpoint", "phase": self.phase, "date": utc_now(), "tag": self.tag}
        save_npz(self.path, dict(state), manifest)
        self.saves += 1

    def load(self) -> dict[str, np.ndarray] | None:
        try:
            arrays, manifest = load_npz(self.path)
        except FileNotFoundError:
            return None
        except CorruptResultError as exc:
            self.discarded.append(str(exc))
            return None
        if manifest.get("tag") != self.tag:
            # e.g. written in other coordinates (eos.reduction's basis on another machine)
            self.discarded.append(
                f"{self.path}: written with tag {manifest.get('tag')!r}, this run needs "
                f"{self.tag!r}; restarting the phase"
            )
            return None
        return arrays

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
