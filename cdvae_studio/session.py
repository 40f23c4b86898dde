"""Sessions as a small JSON file, written atomically: the image, task, model and sampling
conditional; the grid's draw (seed, temperature, MDN component, distinct pool), code, lower-layer
noise and pins; and the starred samples."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cdvae_core.atomic import write_text_atomic
from cdvae_core.config import CONDITIONALS, ConfigError, read_small_text, typed_from_dict
from cdvae_core.distinct import MAX_POOL
from cdvae_core.predictor import MAX_TEMPERATURE
from cdvae_core.tasks import TASK_NAMES

from .jobs import GRID, MAX_SEED

FORMAT = "cdvae-studio-session"
VERSION = 1


class SessionError(ValueError):
    """A session file that cannot be reopened, with a one-line reason."""


@dataclass
class SessionStar:
    """A starred sample as a session keeps it: enough to show it again and to export it as it was
    (its model, photo, draw, grid cell, code and lower-layer noise)."""

    model: str  # as Session.model
    image: str  # the photo's path (a video's frame: ``clip.mp4#t=1.6``); sessions keep no star without one
    code: list[float]
    index: int  # its grid cell, from 0
    seed: int = 0
    temperature: float = 1.0
    component: int = -1
    distinct_pool: int = 0
    noise: list[float] | None = None  # None: decoded with the lower layers at their means
    conditional: str = ""  # as Session.conditional

    def as_session(self, task: str) -> "Session":
        """The session that shows this star again: its photo (none: "", a scatter-plot example's),
        model and draw, with its code and noise as the current sample in its own cell."""
        return Session(task=task, model=self.model, image=self.image or None, seed=self.seed, code=self.code,
                       current=self.index, component=self.component, temperature=self.temperature,
                       noise=self.noise, distinct_pool=self.distinct_pool, conditional=self.conditional)


@dataclass
class Session:
    task: str
    model: str  # a model directory, a pair file (nearest neighbour) or a built-in entry key
    image: str | None  # path of the photo, None for a scatter-plot example
    # seed, component and temperature: the shown grid's draw (state.codes_draw), which reopening
    # draws again and shows in the toolbar and the component picker; older sessions hold the
    # toolbar's and picker's values, the same once their redraw had landed
    seed: int
    code: list[float]
    current: int = 0
    component: int = -1  # the MDN component the grid was drawn from (-1: the whole mixture)
    pinned: list[int] = field(default_factory=list)  # code components fixed across the grid
    # the temperature the grid's codes were drawn at; sessions saved before temperatures existed
    # read as 1
    temperature: float = 1.0
    noise: list[float] | None = None  # the current sample's lower-layer draws (older sessions: redrawn)
    distinct_pool: int = 0  # > 0: the grid was the most distinct of this many draws (older sessions: 0)
    # the tie conditional the grid was drawn from, "exact" or "paper" (Model > Sampling conditional);
    # "": the model's own (a model without a tie, and sessions saved before the choice existed)
    conditional: str = ""
    # the starred list, which reopening replaces the window's with; None: a session saved before
    # sessions kept stars, which leaves the window's
    stars: list[SessionStar] | None = None

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": VERSION, **asdict(self)}, indent=2)


def save_session(path: str | Path, session: Session) -> None:
    write_text_atomic(path, session.to_json() + "\n")


def load_session(path: str | Path) -> Session:
    path = Path(path)
    try:
        text = read_small_text(path)
    except FileNotFoundError:
        raise SessionError(f"no session file at {path}") from None
    except OSError as exc:  # the file system refused it (no permission, a name too long)
        raise SessionError(f"cannot read {path.name} ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise SessionError(f"{path.name} is not a session file ({exc})") from exc
    except ValueError as exc:  # a folder, a device or FIFO (never ending, blocking), too large
        raise SessionError(f"cannot read {path.name} ({exc})") from exc
    return session_from_json(text, path.name)


def session_from_json(text: str, name: str = "the session") -> Session:
    """A session from its JSON text, checked whole (SessionError naming ``name`` otherwise)."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionError(f"{name} is not a session file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{name} is not a CDVAE Studio session")
    if data.get("version") != VERSION:
        raise SessionError(f"{name} has session version {data.get('version')!r}; this Studio reads {VERSION}")
    # keys of a later Studio's optional fields are left out, as before: sessions gained "noise",
    # "distinct_pool" and "conditional" without a new version
    known = {f.name for f in fields(Session)}
    values = {k: v for k, v in data.items() if k in known}
    stars = values.pop("stars", None)
    missing = [f.name for f in fields(Session) if f.default is MISSING and f.default_factory is MISSING
               and f.name not in values]
    if missing:
        raise SessionError(f"{name}: missing field(s) {', '.join(missing)}")
    try:  # each field of its own JSON type: a seed of 1.5 or true, or a code of strings, is refused
        session = typed_from_dict(Session, values)
        if stars is not None and not isinstance(stars, list):
            raise ConfigError(f"stars must be a list, got {stars!r}")
        session.stars = None if stars is None else [typed_from_dict(SessionStar, star) for star in stars]
    except ConfigError as exc:
        raise SessionError(f"{name}: {exc}") from exc
    problem = _out_of_range(session) or next(filter(None, (_star_out_of_range(k, star)
                                                           for k, star in enumerate(session.stars or []))), "")
    if problem:
        raise SessionError(f"{name}: {problem}")
    return session


def _star_out_of_range(k: int, star: SessionStar) -> str:
    """Why starred sample ``k`` of a session cannot be shown as it says, or ""."""
    problem = _out_of_range(star.as_session(TASK_NAMES[0]))
    return f"star {k + 1}: {problem.replace('current must', 'index must')}" if problem else ""


def _out_of_range(s: Session) -> str:
    """Why a parsed session cannot be reopened as it says, or "": checked before anything
    changes, since each of these used to be half-applied (an unknown task raised in the window,
    a seed past the spin box overflowed it, a temperature out of range failed the model's load
    after the toolbar had taken it, a NaN code broke the sliders, pin -1 pinned the last component, and
    a current sample of 1e308 restored the session's code onto one sample and its noise onto another)."""
    if s.task not in TASK_NAMES:
        return f"unknown task {s.task!r}; choose one of {', '.join(TASK_NAMES)}"
    if not 0 <= s.seed <= MAX_SEED:
        return f"seed must lie in [0, {MAX_SEED}], got {s.seed}"
    if not 0.0 <= s.temperature <= MAX_TEMPERATURE:  # NaN fails too
        return f"temperature must lie in [0, {MAX_TEMPERATURE}], got {s.temperature}"
    for name, values in (("code", s.code), ("noise", s.noise or [])):
        if not all(math.isfinite(v) for v in values):
            return f"{name} holds NaN or infinite values"
    if not 0 <= s.current < GRID:
        return f"current must lie in [0, {GRID - 1}] (one of the grid's {GRID} samples), got {s.current}"
    if s.component < -1:
        return f"component must be -1 (the whole mixture) or a component's number from 0, got {s.component}"
    if any(i < 0 for i in s.pinned):
        return f"pinned components are numbered from 0, got {min(s.pinned)}"
    if s.distinct_pool != 0 and not GRID < s.distinct_pool <= MAX_POOL:
        return (f"distinct_pool must be 0 (plain draws) or lie in ({GRID}, {MAX_POOL}] (more draws than the grid's "
                f"{GRID} samples), got {s.distinct_pool}")
    if s.conditional not in ("",) + CONDITIONALS:
        return f"conditional must be \"\" (the model's own), {' or '.join(map(repr, CONDITIONALS))}, got {s.conditional!r}"
    return ""
