"""Photos that ship inside installed packages, so a fresh machine can train with no download.

scikit-image's data folder (CC0 / public domain photos) and scikit-learn's two sample images
(CC BY 2.0); the repository's ``assets/images`` holds copies of the same photos for places where
those packages are trimmed. Grey and non-photographic images (text, coins, microscopy) are left
out: they would teach resaturation that everything is grey.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..assets import assets_dir
from .errors import SkipItem
from .images import read_image

# (name, package, file inside the package's data folder, licence)
BUILTIN_PHOTOS = (
    ("astronaut", "skimage", "data/astronaut.png", "public domain (NASA)"),
    ("chelsea", "skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    ("coffee", "skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    ("rocket", "skimage", "data/rocket.jpg", "public domain (SpaceX)"),
    ("china", "sklearn", "datasets/images/china.jpg", "CC BY 2.0 (danielbuechele, Flickr)"),
    ("flower", "sklearn", "datasets/images/flower.jpg", "CC BY 2.0 (vultilion, Flickr)"),
)

ASSETS_DIR = assets_dir() / "images"


def _package_dir(package: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _candidates(name: str, package: str, relative: str) -> list[Path]:
    paths = []
    root = _package_dir(package)
    if root is not None:
        paths.append(root / relative)
    paths.extend(sorted(ASSETS_DIR.glob(f"{name}.*")) if ASSETS_DIR.is_dir() else [])
    return paths


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[tuple[str, np.ndarray], ...]:
    found = []
    for name, package, relative, _licence in BUILTIN_PHOTOS:
        for path in _candidates(name, package, relative):
            try:
                image = read_image(path)
            except SkipItem:
                continue
            image.setflags(write=False)  # shared by every caller: keep it intact
            found.append((name, image))
            break
    return tuple(found)


def builtin_images() -> list[tuple[str, np.ndarray]]:
    """The shipped photos as (name, uint8 (H, W, 3) RGB), in a fixed order; read-only arrays.

    Empty only if neither the packages' data nor ``assets/images`` is present.
    """
    return list(_load_all())


def builtin_source_paths() -> dict[str, str]:
    """name -> file the photo is read from (for the pair file's meta)."""
    out = {}
    for name, package, relative, _licence in BUILTIN_PHOTOS:
        for path in _candidates(name, package, relative):
            if path.is_file():
                out[name] = os.fspath(path)
                break
    return out
