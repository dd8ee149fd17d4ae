"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Everything is written to a temporary file in the destination's folder and moved into
place with ``os.replace``, which is atomic on POSIX and Windows.

The temporary file is created with mode 0666 and the process umask applied by the system,
like ``open(path, "w")``, so files vaekit writes into a shared folder stay as readable as
any other (``tempfile.mkstemp`` would make every one of them private, 0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


def _new_beside(path: Path, create: Callable[[Path], None]) -> Path:
    """A new hidden entry in ``path``'s folder, made by ``create``, which must fail if the name exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            create(tmp)
            return tmp
        except FileExistsError:
            continue


def _create_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``, on error it vanishes."""
    path = Path(path)
    tmp = _new_beside(path, _create_file)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder to fill; on success it becomes ``path`` (absent or an empty folder),
    on error it vanishes with everything in it."""
    path = Path(path)
    tmp = _new_beside(path, lambda p: p.mkdir(0o777))
    try:
        yield tmp
        if path.exists():
            path.rmdir()  # refuses anything but an empty folder
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
