"""Safe outputs: temporary names no input glob matches, atomic replacement, output paths, run locks.

- A file is written under :func:`temp_path` (``.<name>.<pid>.tmp``: hidden, ending in ``.tmp``, so neither
  ``cuts_*.jsonl.gz`` nor ``*.jsonl.gz`` matches a leftover of a killed run, and two processes never share
  one) and renamed over the final name (:func:`atomic_path`, :func:`atomic_write_text`).
- :func:`output_dir` / :func:`output_file` turn "``--output`` names a file" (or ``--out`` a folder) into
  one-line errors.
- :class:`OutputLock`: one run at a time per output folder (``annotate``, ``verify``, ``search build``, ``augment``).
  The lock is an ``flock`` on ``<folder>/.clsp.lock``, which holds the holder's PID; the kernel drops the
  lock when its process dies, so the lock of a killed run is taken over by the next one.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clsp.errors import ClspError

TMP_SUFFIX = ".tmp"
LOCK_NAME = ".clsp.lock"


def temp_path(path: str | Path) -> Path:
    """Where ``path`` is written before being renamed into place: ``.<name>.<pid>.tmp`` in the same folder."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}{TMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    """True for names written by :func:`temp_path`, any ``*.tmp`` leftover, and the ``X.tmp.jsonl.gz``
    temporaries of earlier versions: never an input."""
    return name.endswith(TMP_SUFFIX) or ".tmp." in name


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (one rename), on failure it is removed."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(p)
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def output_dir(path: str | Path, flag: str = "--output") -> Path:
    """``path`` as an output folder (created); a file of that name is a one-line error."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ClspError(f"{p}: {flag} must be a folder, but a file of that name exists")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ClspError(f"{p}: {flag} cannot be created (a parent is a file)") from None
    return p


def output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as an output file (its folder created); an existing folder of that name is a one-line error."""
    p = Path(path)
    if p.is_dir():
        raise ClspError(f"{p}: {flag} must be a file name, but a folder of that name exists")
    output_dir(p.parent, f"the folder of {flag}")
    return p


def refuse_nonempty(path: str | Path, overwrite: bool, flag: str = "--overwrite") -> None:
    """A folder that already holds files is not written over unless ``overwrite`` (one-line error)."""
    p = Path(path)
    if overwrite or not p.is_dir():
        return
    held = sorted(c.name for c in p.iterdir() if c.name != LOCK_NAME)  # a run's lock file is no content
    if held:
        shown = ", ".join(held[:4])
        raise ClspError(f"{p}: not empty (holds {shown}, ...); writing there would replace it: give {flag} "
                        "or another output folder")


class OutputLock:
    """``with OutputLock(folder, "annotate"):`` — at most one run writes into ``folder`` at a time.

    A second run stops with ``ClspError`` naming the holder's PID. The lock file is removed on exit; a lock
    file left by a killed run holds no ``flock`` and is simply taken over.
    """

    def __init__(self, folder: str | Path, what: str):
        self.folder, self.what = Path(folder), what
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        output_dir(self.folder)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ClspError(f"{self.folder}: another {self.what} run ({holder}) is writing to this folder; "
                                f"wait for it to end or choose another output folder") from None
            try:  # the holder before us may have removed the file after we opened it: lock the current one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                self.path.unlink(missing_ok=True)
            finally:
                os.close(fd)  # releases the flock


def _read_holder(fd: int) -> str:
    try:
        fields = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        fields = []
    if not fields:
        return "PID unknown"
    return f"PID {fields[0]}" + (f" on {fields[1]}" if len(fields) > 1 else "")
