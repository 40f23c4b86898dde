"""CDVAE Studio: the desktop app for exploring ambiguous predictions (PySide6 + pyqtgraph).

It holds no model maths: every model call goes through ``cdvae_core``.
"""

from ._compat import immortalise_singletons

immortalise_singletons()  # before any Qt call: see _compat for the shiboken6 bug it works around

__version__ = "0.1.0"
