"""Error messages on one line, shared by the commands and the Studio.

A message names files as they are: control characters (a newline in a file name) are escaped,
not collapsed, and an OSError reads "PATH: reason" rather than "[Errno 36] ...".
"""

from __future__ import annotations

import unicodedata


def one_line_text(text: str) -> str:
    """``text`` on one line, its control characters escaped ("\\n"): a file name may hold a newline
    (collapsing whitespace instead wrote "a  b.jpg" as "a b.jpg", a name that does not exist)."""
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) == "Cc" else ch for ch in text)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line; its class name where it has no message."""
    return one_line_text(str(exc).strip()) or type(exc).__name__


def os_error_line(exc: OSError) -> str:
    """"PATH: reason" for an OSError that names its path, else its message on one line."""
    if exc.filename is not None and exc.strerror:
        return one_line_text(f"{exc.filename}: {exc.strerror}")
    return one_line(exc)
