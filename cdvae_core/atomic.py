"""Atomic file writes: a file is either the old one or the complete new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    ``suffix`` keeps the extension for writers that insist on one (``np.savez`` adds ``.npz``
    to names without it, OpenCV picks the codec from it). On error the temporary file is removed
    and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_with(path: str | os.PathLike, writer: Callable[[Path], None], suffix: str | None = None) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)


def unwritable_reason(folder: str | os.PathLike) -> str | None:
    """Why files could not be written in ``folder`` (made if missing), or None if they could.

    Its nearest existing ancestor must be a directory where a temporary file can be made;
    creates nothing. The reason reads after the name: "cannot be created: ... is not a
    directory" or "is not writable (Permission denied)".
    """
    base = Path(folder).absolute()
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        return f"cannot be created: {base} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        return f"is not writable ({exc.strerror or exc})"
    return None
