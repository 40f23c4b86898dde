"""Keeping OpenCV's and FFmpeg's own messages off the commands' stderr.

The data pipeline reports every file it skips, by reason, in its summary; the decoders also
print their own lines for the same files ("[mov,mp4,...] moov atom not found", "[ WARN:0@1.5]
global grfmt_png.cpp ... PNG input buffer is incomplete"), from worker processes too, and
sometimes after the summary. ``quiet_decoders()`` silences both for the duration of a command:

- OpenCV's log: ``cv2.utils.logging.setLogLevel`` (``cv2.setLogLevel`` in OpenCV 4) in this
  process, and ``OPENCV_LOG_LEVEL`` for the spawned workers, which read it when they start.
- FFmpeg's log: OpenCV reads ``OPENCV_FFMPEG_LOGLEVEL`` once, when its first video capture of
  the process opens (-8 is FFmpeg's AV_LOG_QUIET); later changes do nothing. Spawned workers
  inherit it from the environment.

Set by the user, ``OPENCV_LOG_LEVEL`` (OpenCV's log) and ``OPENCV_FFMPEG_LOGLEVEL`` or
``OPENCV_FFMPEG_DEBUG`` (FFmpeg's) ask for those messages and are left as they are; with
``verbose`` nothing is changed. OpenCV's own AVI reader, tried after FFmpeg refused a broken
AVI, prints "Unexpected element. Expected: LIST. Got: ..." with a bare fprintf: no setting
reaches that line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import cv2

FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def _log_functions():
    """(getLogLevel, setLogLevel) of this OpenCV, or None (5.0 moved them to cv2.utils.logging)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    for holder in (logging, cv2):
        if hasattr(holder, "setLogLevel") and hasattr(holder, "getLogLevel"):
            return holder.getLogLevel, holder.setLogLevel
    return None


@contextlib.contextmanager
def quiet_decoders(verbose: bool = False) -> Iterator[None]:
    """Silence OpenCV's and FFmpeg's messages inside the block, here and in worker processes it
    starts; the environment and OpenCV's level are put back after it (FFmpeg's level, once read
    by a capture, stays for the process)."""
    opencv = not verbose and "OPENCV_LOG_LEVEL" not in os.environ
    ffmpeg = not verbose and not any(name in os.environ for name in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_FFMPEG_DEBUG"))
    functions = _log_functions() if opencv else None
    before = functions[0]() if functions else None
    if opencv:
        os.environ["OPENCV_LOG_LEVEL"] = "SILENT"
        if functions:
            functions[1](0)  # LOG_LEVEL_SILENT
    if ffmpeg:
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = FFMPEG_QUIET
    try:
        yield
    finally:
        if opencv:
            os.environ.pop("OPENCV_LOG_LEVEL", None)
            if functions:
                functions[1](before)
        if ffmpeg:
            os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)


__all__ = ["quiet_decoders"]
