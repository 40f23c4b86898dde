"""Work around a reference-counting bug of the installed PySide6/shiboken6 6.12 abi3 wheels on
Python < 3.12.

Those wheels return ``None`` (and ``True``/``False``) from void and bool methods without taking
a reference, which is harmless where these singletons are immortal (Python 3.12+, PEP 683) but
on 3.11 every ``processEvents()``, ``setValue()`` or timer tick drops one reference: a few
thousand calls later the interpreter aborts with "none_dealloc" / "bool_dealloc". Measured here:
each ``app.processEvents()`` lowers ``sys.getrefcount(None)`` by exactly 1.

The fix makes the three singletons effectively immortal, as 3.12 does: their reference counts
are raised by 2**40, which no run can use up. Nothing else changes; on 3.12+ this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40


def immortalise_singletons() -> bool:
    """Raise the refcounts of None, True and False once per process; True if it did."""
    if sys.version_info >= (3, 12) or getattr(sys, "_cdvae_singletons_immortal", False):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    sys._cdvae_singletons_immortal = True  # type: ignore[attr-defined]
    return True
