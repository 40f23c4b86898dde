"""Where the files that ship with the project are: the built-in models and photos.

In a checkout, and in an editable install (the README's), they are ``assets/`` beside the
packages. A regular install (a wheel: ``pip install .``) leaves no checkout behind, so
pyproject's data-files copy ``assets/`` to ``<prefix>/share/cdvae-studio/assets``; the
installed distribution's file list says where that prefix is (a virtual environment, the user's
``~/.local``, the system), so nothing here guesses install schemes.
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "cdvae-studio"
SHARED = f"share/{DISTRIBUTION}/assets/"  # the data-files' folder, relative to the install prefix


def checkout_assets() -> Path:
    """``assets/`` of the source tree these packages were imported from (it may not exist)."""
    return Path(__file__).resolve().parents[1] / "assets"


@functools.lru_cache(maxsize=1)
def installed_assets() -> Path | None:
    """The copy of ``assets/`` a regular install made, or None (no such install, or no copy)."""
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        text = entry.as_posix()
        if SHARED in text:
            located = Path(entry.locate()).resolve()
            # the folder the entry lies in, up to and including "assets"
            depth = text.split(SHARED, 1)[1].count("/") + 1
            root = located.parents[depth - 1]
            return root if root.is_dir() else None
    return None


def assets_dir() -> Path:
    """The shipped assets: the checkout's when there is one, else the installed copy. With
    neither, the checkout's path all the same: nothing is found there (the Studio then offers no
    built-in models, and the photos come from scikit-image's and scikit-learn's data)."""
    checkout = checkout_assets()
    if checkout.is_dir():
        return checkout
    return installed_assets() or checkout
