"""What keeps a run folder trustworthy: checksums of the files its status
vouches for, and a lock so that one process at a time completes a run.

**Checksums.** A trained run's ``status.json`` records the sha256 of its
weights and history (``"files": {"weights.safetensors": "<sha256>", ...}``),
taken once, right after they are written. Whenever a finished run would be
skipped, the files are hashed again and compared: a missing or changed file
makes the run count as not trained (see :func:`damage`), and it is trained
again rather than measured or reported with weights nobody trained. Hashing
reads the whole file: about 0.13 s per 100 MB on a 2-core CPU machine with
the file in the page cache (0.2 s just after writing it; from a cold disk,
the disk's read speed bounds it), so a sweep whose runs hold 10 GB of
weights spends some 15 s verifying them each time it is started again. A
status written before checksums existed (no ``"files"``) is accepted as long
as the weights and history exist: their contents cannot be checked, and
retraining every run a user already has would cost far more than it protects.

**The run lock.** :func:`run_lock` holds ``run.lock`` in the run folder while
a process trains, measures and records the run, so that two sweeps started
on the same folder train each run once: the second waits (saying so in one
line, then trying once a second) and then finds the run complete. The lock
is an ``flock`` taken through :mod:`filelock`; the operating system drops it
when its holder exits, however it exits, so a killed process never leaves a
lock behind (``fuser <run>/run.lock`` names the holder on its machine).
Where this holds: always between the processes of one machine; across
machines on a shared filesystem that carries flock between its clients (NFS
with locking, its default; Lustre mounted with ``-o flock``; GPFS), where the
server frees the lock of a client that died once its lease runs out (NFSv4:
about 90 s). On a filesystem that locks per machine only (NFS mounted
``nolock``, Lustre ``localflock``) two machines can train the same run at
once: the work is done twice, and the atomic writes leave the run complete
with one of them. Where flock is missing altogether, filelock 4 falls back
to a lock file naming its owner's pid and machine, which a process on that
machine breaks once the owner is dead but one on another machine waits for
until it is removed by hand (earlier filelock versions raise an error).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from frivolous.runs.layout import RunLayout

CHUNK = 1 << 20
WAIT_POLL = 1.0
"""Seconds between attempts on a held lock: gentle on a shared filesystem's server."""


def digest(path: Path) -> str:
    """The sha256 of a file, read in chunks (weights can be hundreds of MB)."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def vouched(layout: RunLayout) -> tuple[Path, ...]:
    """The files a trained run's status vouches for."""
    return layout.weights, layout.history


def checksums(layout: RunLayout) -> dict[str, str]:
    """The ``files`` entry of a trained run's status: each vouched file's sha256, by name."""
    return {path.name: digest(path) for path in vouched(layout)}


def damage(layout: RunLayout, status: dict[str, Any]) -> str | None:
    """What is wrong with the files a trained run's ``status`` vouches for,
    or None when they are all there and match. A legacy status (no
    ``files``) is checked for the files' existence only."""
    expected = status.get("files") or dict.fromkeys(path.name for path in vouched(layout))
    for name, sha in expected.items():
        path = layout.root / name
        if not path.is_file():
            return f"{name} is missing"
        if sha is not None and digest(path) != sha:
            return f"{name} does not match its checksum"
    return None


def discard(layout: RunLayout, reason: str) -> None:
    """Say, in one line, why a trained run is trained again, and remove
    everything that came from its training: the record first (so the run no
    longer counts as complete), the status, the measurements, the
    checkpoints (a resumed run would start from them), weights and history."""
    logging.getLogger(__name__).warning("%s: %s; training it again", layout.root, reason)
    layout.record.unlink(missing_ok=True)
    layout.status.unlink(missing_ok=True)
    for folder in (*layout.measurement_folders(), layout.checkpoints):
        shutil.rmtree(folder, ignore_errors=True)
    for path in vouched(layout):
        path.unlink(missing_ok=True)


@contextmanager
def run_lock(layout: RunLayout) -> Iterator[None]:
    """Hold the run's lock for the body; if another process holds it, say so
    and wait until it is released (the holder finishes, fails or dies)."""
    lock = try_run_lock(layout)
    if lock is None:
        logging.getLogger(__name__).warning(
            "%s: another process is completing this run (it holds %s); waiting for it", layout.root, layout.lock.name
        )
        lock = FileLock(layout.lock)
        lock.acquire(poll_interval=WAIT_POLL)
    try:
        yield
    finally:
        lock.release()


def try_run_lock(layout: RunLayout) -> FileLock | None:
    """The run's lock, taken, or None at once if another process holds it
    (a batch leaves such a run to its holder instead of waiting)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(layout.lock)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock
