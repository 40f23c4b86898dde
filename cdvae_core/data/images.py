"""Reading any photo a user may bring as uint8 (H, W, 3) RGB, or a SkipItem saying why not.

Handled: grey, grey + alpha, RGBA (composited over white, as viewers and the Studio show them:
their hidden colour under alpha 0, often black, is nothing anyone saw), CMYK JPEG (OpenCV
converts), 16-bit and float images (rescaled to 8 bits), EXIF orientation. Refused: unreadable or corrupt files,
truncated JPEGs (no end marker: OpenCV would silently fill the missing part with grey),
images smaller than ``MIN_SIDE`` and, from the header before any pixel is decoded, images of
more than ``MAX_PIXELS`` (a small file of a vast image would cost gigabytes per worker).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import SkipItem

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jp2")
# photo formats OpenCV does not decode: a folder's are counted as skipped, not passed over unsaid
UNREAD_EXTENSIONS = (".gif", ".heic", ".heif", ".avif", ".svg")
# pixels a side, half the model's 32x32 grid: a smaller photo's layers are mostly interpolation.
# cdvae-prepare, cdvae-sample --image and the Studio all refuse below it (they had 8, 2 and 16)
MIN_SIDE = 16
MAX_PIXELS = 100_000_000  # refuse decompression bombs


def over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 colour (H, W[, C]) composited over white by uint8 alpha (H, W): a transparent
    picture as viewers show it. The one formula of the data pipeline, exports and the Studio."""
    a = alpha.astype(np.float32) / 255.0
    a = a[..., None] if colour.ndim == 3 else a
    return np.clip(colour.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded image upright by its EXIF orientation (2-8; 1 is upright)."""
    if orientation in (2, 4, 5, 7):
        img = cv2.flip(img, 1 if orientation in (2, 7) else 0)  # mirror first, then rotate
    rotate = {3: cv2.ROTATE_180, 5: cv2.ROTATE_90_CLOCKWISE, 6: cv2.ROTATE_90_CLOCKWISE,
              7: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(orientation)
    return cv2.rotate(img, rotate) if rotate is not None else img


def _is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*")


def _may_be_transparent(data: bytes) -> bool:
    """Files that can hold transparent pixels: a PNG whose header says alpha (colour type 4 or 6)
    or that has a tRNS chunk, a WebP or a TIFF. The others (every JPEG, most PNGs) are not
    decoded a second time."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) > 25 and data[25] in (4, 6):  # IHDR's colour type: grey + alpha, RGBA
            return True
        trns, idat = data.find(b"tRNS"), data.find(b"IDAT")
        return trns != -1 and (idat == -1 or trns < idat)  # palette or single-colour transparency
    return (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or _is_tiff(data)


def unchanged_orientation(data: bytes, orientation: int) -> int:
    """The EXIF orientation still to apply to ``cv2.IMREAD_UNCHANGED``'s decode of ``data``
    whose header says ``orientation``: OpenCV leaves it to the caller, except in a TIFF, which
    its TIFF reader already turns upright (turned again, a phone's TIFF came out on its side)."""
    return 1 if _is_tiff(data) else orientation


def transparency(data: bytes, shape: tuple[int, ...], name: str = "image") -> np.ndarray | None:
    """The upright uint8 alpha (H, W) of encoded ``data`` whose colour decode (IMREAD_COLOR or
    ANYCOLOR, which drop alpha and apply EXIF orientation) has ``shape``; None where nothing is
    transparent (no alpha, or every pixel opaque: such a photo's pixels stay exactly as they were)."""
    if not _may_be_transparent(data):
        return None
    full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] not in (2, 4):
        return None
    alpha = to_depth8(full[:, :, -1])
    try:
        header = read_header(data, name)
    except ValueError:  # past Pillow's limit: the caller's own size check speaks for it
        header = None
    alpha = apply_orientation(alpha, unchanged_orientation(data, header[2] if header is not None else 1))
    if alpha.shape != tuple(shape[:2]) or bool((alpha == 255).all()):
        return None
    return alpha


def to_depth8(img: np.ndarray) -> np.ndarray:
    """A decoded array of any depth as uint8: 16-bit by its high byte (as OpenCV's IMREAD_COLOR,
    which exports and the Studio read photos with), float in [0, 1] scaled by 255."""
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype in (np.float32, np.float64):
        return np.clip(np.nan_to_num(img) * 255.0, 0, 255).round().astype(np.uint8)
    if img.dtype != np.uint8:
        raise SkipItem("unsupported pixel type", str(img.dtype))
    return img


def to_rgb8(decoded: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """A decoded OpenCV array (H, W[, C]) of any depth, BGR order -> uint8 (H, W, 3) RGB; a
    4-channel or grey + alpha array, or a given uint8 ``alpha`` (H, W), composited over white."""
    img = to_depth8(decoded)
    if img.ndim == 3 and img.shape[2] in (2, 4):
        alpha = img[:, :, -1] if alpha is None else alpha
        img = img[:, :, :-1] if img.shape[2] == 4 else img[:, :, 0]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    else:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)
    if alpha is not None and not bool((alpha == 255).all()):
        img = over_white(img, alpha)
    return np.ascontiguousarray(img)


def read_header(data: bytes, name: str = "image",
                error: Callable[[str], Exception] = ValueError) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation 1-8) from the file's header via Pillow, without decoding
    pixels; None when Pillow does not know the format or the header is broken (OpenCV decides).

    Past twice Pillow's own pixel limit Pillow refuses even the header: that raises
    ``error("<name> is too large to open (N megapixels; up to 100 are opened)")``.
    Pillow's global limit is left as it is. Used by the data pipeline and the Studio.
    """
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: the caller's limit decides
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                # Pillow's PNG getexif decodes every pixel when the header held no eXIf chunk
                # (one may follow the image data); skip it when there is none, or the image is
                # too large to be opened anyway
                if width * height > MAX_PIXELS or (im.format == "PNG" and "exif" not in im.info
                                                   and b"eXIf" not in data):
                    orientation = 1
                else:
                    orientation = int(im.getexif().get(0x0112, 1) or 1)  # 0x0112: Orientation
    except Image.DecompressionBombError as exc:
        # Pillow's text names its own limit (179 megapixels), not the one that refuses smaller images
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found[1]) / 1e6:.0f} megapixels" if found else str(exc).split(", could be")[0]
        raise error(f"{name} is too large to open ({size}; up to {MAX_PIXELS / 1e6:.0f} are opened)") from exc
    except Exception:  # noqa: BLE001 - unknown or broken header: OpenCV decides and explains
        return None
    return width, height, orientation if 1 <= orientation <= 8 else 1


def is_truncated_jpeg(data: bytes) -> bool:
    """True when ``data`` is a JPEG (SOI marker) that lacks its end-of-image marker after its last scan.

    OpenCV would decode such a file without complaint, filling the missing part with grey.
    Data appended after the marker (some phones add a video) does not count as truncation.
    """
    if data[:2] != b"\xff\xd8" or b"\xff\xd9" in data[-1024:]:
        return False
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Encoded bytes -> uint8 (H, W, 3) RGB; SkipItem for anything unusable."""
    if len(data) == 0:
        raise SkipItem("empty file", name)
    # refuse a vast image from its header: OpenCV would allocate it all first (up to 1 Gpixel)
    header = read_header(data, name, lambda message: SkipItem("image too large", message))
    if header is not None and header[0] * header[1] > MAX_PIXELS:
        raise SkipItem("image too large", f"{name} is {header[0]}x{header[1]}")
    if is_truncated_jpeg(data):
        raise SkipItem("truncated JPEG", name)
    buf = np.frombuffer(data, np.uint8)
    try:
        decoded = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as exc:
        raise SkipItem("corrupt image", f"{name}: {str(exc).strip().splitlines()[-1][:80]}") from None
    if decoded is None:
        raise SkipItem("corrupt image", name)
    h, w = decoded.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SkipItem("image too small", f"{name} is {w}x{h}, need {MIN_SIDE}x{MIN_SIDE}")
    if h * w > MAX_PIXELS:  # formats Pillow cannot read the header of
        raise SkipItem("image too large", f"{name} is {w}x{h}")
    return to_rgb8(decoded, transparency(data, decoded.shape, name))


def read_file(path: str | Path) -> bytes:
    """A photo file's bytes; SkipItem when it is missing, unreadable or not a regular file."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # a folder, or a FIFO whose read would block the worker
            raise SkipItem("unreadable file", f"{path}: not a regular file")
        return path.read_bytes()
    except FileNotFoundError:
        raise SkipItem("missing file", str(path)) from None
    except OSError as exc:
        raise SkipItem("unreadable file", f"{path}: {exc.strerror}") from None


def read_image(path: str | Path) -> np.ndarray:
    """Read a photo file as uint8 (H, W, 3) RGB; SkipItem with a reason when it is unusable."""
    return decode_image(read_file(path), Path(path).name)


def list_images(folder: str | Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden names skipped), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions
                  and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
