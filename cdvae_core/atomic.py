"""Atomic file writes: a file is either the old one or the complete new one, never half."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterator


def _host_tag() -> str:
    """Who may judge whether a temp's pid runs: this host, and this pid namespace (containers
    sharing a hostname number their processes separately). No dots, so names parse unambiguously."""
    tag = socket.gethostname()
    with contextlib.suppress(OSError):
        tag += "-" + os.readlink("/proc/self/ns/pid").strip("pid:[]")
    return re.sub(r"[^A-Za-z0-9-]", "_", tag) or "host"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # another user's process (EPERM), or one we cannot ask about: assume it writes
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ``path`` left by writers that no longer run.

    A writer killed with ``kill -9`` (or by a power cut) cannot clean up after itself. Temporary
    names are ``.<name>.<host>.<pid>.<random>.tmp<suffix>`` (host: hostname and pid namespace);
    only those naming this host and a pid that is not running are removed, so a live writer's
    file, here or on another machine sharing the folder, is never touched. A reused pid only keeps
    a stale file until a later write. Costs one listing of the folder. Returns the removed paths.
    """
    target = Path(path)
    head = f".{target.name}.{_host_tag()}."
    pattern = re.compile(rf"{re.escape(head)}(\d+)\.[^.]+\.tmp.*", re.DOTALL)
    removed = []
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(head)]
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid() or _pid_running(int(match.group(1))):
            continue
        stale = target.parent / name
        with contextlib.suppress(OSError):  # another writer may be removing it at the same time
            if not stale.is_dir():
                stale.unlink()
                removed.append(stale)
    return removed


def _mode_for(target: Path) -> int:
    """Permission bits for a file written to ``target``: those of the file there, else 0666 less
    the umask (what ``open`` would give it)."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    ``suffix`` keeps the extension for writers that insist on one (``np.savez`` adds ``.npz``
    to names without it, OpenCV picks the codec from it). On error the temporary file is removed
    and ``path`` is left untouched. The temporary name carries this host and pid so that the next
    write to ``path`` can remove it if this process is killed outright (``remove_stale_temporaries``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    remove_stale_temporaries(target)
    prefix = f".{target.name}.{_host_tag()}.{os.getpid()}."
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes 0600, and writers that make the file again (safetensors) keep that: the
        # file a rename replaces keeps its mode, a new one gets the usual permissions (the
        # weights of a model trained on a shared drive were unreadable to everyone else)
        os.chmod(tmp, _mode_for(target))
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
    try:
        while not base.exists():
            base = base.parent
    except OSError as exc:  # a name longer than the file system allows: was a traceback
        return f"cannot be created ({exc.strerror or exc})"
    if not base.is_dir():
        return f"cannot be created: {base} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        return f"is not writable ({exc.strerror or exc})"
    return None
