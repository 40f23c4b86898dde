"""What the commands share: one-line errors with exit code 2, argument helpers, output checks.

Every expected problem in cdvae_core raises a ValueError subclass defined in the library
(PairFileError, ModelLoadError, ConfigError, OutputDirError, ...). ``run_main`` turns those, and
an OSError (the file system refusing a path: too long a name, no permission), into
``prog: error: reason`` on stderr and exit code 2 (one line: ``messages.one_line_text`` escapes
control characters, as the Studio's messages do); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..atomic import unwritable_reason
from ..messages import one_line, os_error_line

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
PAPER_SAMPLES = (3, 10, 30, 60, 100)


class CliError(ValueError):
    """A bad command line (wrong combination of flags, unusable output path)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a job scheduler's time limit, torchrun stopping its workers), raised
    where it arrives so that the cleanup of Ctrl-C runs."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated inside the block. Python's default ends the process on the spot:
    cdvae-prepare's workers were left running and its pair file's temporary behind, and
    cdvae-train stopped without saying that its last finished epoch is kept."""
    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers live there only
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def interrupted_exit(exc: KeyboardInterrupt) -> tuple[str, int]:
    """('terminated', 143) for SIGTERM, ('interrupted', 130) for Ctrl-C."""
    return ("terminated", EXIT_TERMINATED) if isinstance(exc, Terminated) else ("interrupted", EXIT_INTERRUPTED)


def version_text(**others: str) -> str:
    """The library's version and what it runs on, for --version (and bug reports): "0.1.0 (Python
    3.11.7, torch 2.13.0+cpu)", ``others`` added as "name version". torch's version is read from
    its package record, so --version does not import it (a second or two)."""
    from importlib import metadata

    from .. import __version__

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    parts = [f"Python {sys.version.split()[0]}", f"torch {torch_version}"] + [f"{k} {v}" for k, v in others.items()]
    return f"{__version__} ({', '.join(parts)})"


class VersionAction(argparse.Action):
    """``--version``: "PROG VERSION" on one line, ``describe()`` asked only then (argparse's own
    action wraps the text at the terminal's width)."""

    def __init__(self, option_strings, describe: Callable[[], str] = version_text, dest=argparse.SUPPRESS,
                 default=argparse.SUPPRESS, help=None) -> None:  # noqa: A002 - argparse's keyword
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)
        self.describe = describe

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog} {self.describe()}")
        parser.exit()


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: message (see --help)``, exit code 2, and
    ``--version``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action=VersionAction,
                          help="print the version (and Python's and torch's) and exit")

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def is_expected_error(exc: BaseException) -> bool:
    """A ValueError raised on purpose by the library (its class lives in cdvae_core)."""
    return isinstance(exc, ValueError) and type(exc).__module__.startswith("cdvae_core")


@contextlib.contextmanager
def library_warnings(prog: str) -> Iterator[None]:
    """The library's own warnings (a broken worker pool, ...) as one line each, "PROG: warning: ...";
    other packages' warnings keep Python's format, with their source line."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}cdvae_core{os.sep}" in str(filename):
            print(f"{prog}: warning: {one_line(message)}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run a command body; expected errors become one line on stderr and exit code 2."""
    try:
        with library_warnings(prog), sigterm_as_interrupt():
            return body()
    except SystemExit as exc:  # argparse's --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        what, code = interrupted_exit(exc)
        print(f"{prog}: {what}", file=sys.stderr)
        return code
    except OSError as exc:  # a path the system refuses: was a traceback ("File name too long")
        print(f"{prog}: error: {os_error_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - only library ValueErrors are turned into one line
        if is_expected_error(exc):
            print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise


# the most samples per image (or importance samples per pair) a command draws: far beyond the
# paper's 100, and short of a count that would run for days or fill the memory (a mistyped
# --nll-k 1180591620717411303424 ran for ever)
MAX_DRAWS = 10_000


def check_draws(flag: str, value: int, least: int = 1) -> None:
    """CliError unless ``least`` <= value <= MAX_DRAWS."""
    if not least <= value <= MAX_DRAWS:
        raise CliError(f"{flag} must lie in [{least}, {MAX_DRAWS}], got {value}")


MAX_SEED = 2**62  # seeds of the commands that draw; pair i draws with seed + i, within torch's 64 bits


def check_seed(value: int) -> None:
    """CliError unless 0 <= value < MAX_SEED (2^70 was an OverflowError inside torch)."""
    if not 0 <= value < MAX_SEED:
        raise CliError(f"--seed must lie in [0, 2^62), got {value}")


def parse_samples(text: str) -> list[int]:
    """"3,10,30" -> [3, 10, 30] (positive, at most MAX_DRAWS, sorted, unique)."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise CliError(f"--samples must be comma-separated whole numbers, got {text!r}") from exc
    if not values or values[0] < 1:
        raise CliError(f"--samples needs positive sample counts, got {text!r}")
    check_draws("--samples", values[-1])
    return values


def check_output_file(path: str | None, flag: str, inputs: Sequence[tuple[str, str | None]] = ()) -> Path:
    """Raise CliError unless ``path`` names a file we could write (checked before any work) that
    is none of the command's ``inputs`` ((flag, path) pairs; ``model_inputs`` lists a model's)."""
    if path is None or not str(path).strip():
        raise CliError(f"{flag} is empty: name an output file")
    target = Path(path)
    try:
        if target.is_dir():
            raise CliError(f"{flag} {target} is a directory, not a file")
        for input_flag, source in inputs:
            # even with --overwrite: "--pairs P --out P" replaced the pair file with the samples,
            # and an --out of the model's weights the model
            if source is not None and target.resolve() == Path(source).resolve():
                raise CliError(f"{flag} {target} would overwrite {input_flag} {source}: name another file")
    except OSError as exc:  # a name too long for the file system: was a traceback or blamed on the input
        raise CliError(f"{flag} {target} cannot be used ({exc.strerror or exc})") from None
    why = unwritable_reason(target.absolute().parent)
    if why is not None:
        raise CliError(f"{flag} {target} {why}")
    return target


def model_inputs(model: str | None) -> list[tuple[str, str]]:
    """("--model", file) for each file a saved model directory is made of, as inputs of
    ``check_output_file``: other files may be written beside them (an eval result, say)."""
    if model is None:
        return []
    from ..checkpoint import CONFIG_FILE, EMBEDDING_FILE, METRICS_FILE, STATE_FILE, WEIGHTS_FILE

    return [("--model", str(Path(model) / name)) for name in (CONFIG_FILE, WEIGHTS_FILE, EMBEDDING_FILE,
                                                               METRICS_FILE, STATE_FILE)]


def check_pairs_fit(pairs, config) -> None:
    """Raise CliError unless the pairs fit the model (``PairSet.fit_problem``: its task, its
    channels, the task's value ranges)."""
    problem = pairs.fit_problem(config.task, (config.channels_c, config.channels_g))
    if problem:
        raise CliError(problem)


def add_conditional(parser: argparse.ArgumentParser, what: str) -> None:
    """``--conditional exact|paper``: ``what`` (the samples, ...) drawn with that p(z_g | z_c)."""
    from ..config import CONDITIONALS

    parser.add_argument("--conditional", choices=CONDITIONALS,
                        help=f"{what} with this p(z_g | z_c) instead of the model's own (its config.json's "
                             "tie_conditional): exact, or paper (N(z_c, s^2), raw MDN)")


def use_conditional(predictor, kind: str | None) -> None:
    """Switch a loaded model to ``--conditional kind`` (None: its own); CliError for a model
    without a tie."""
    if kind is None:
        return
    try:
        predictor.use_conditional(kind)
    except ValueError as exc:
        raise CliError(f"--conditional: {exc}") from None


def rank() -> int:
    """This process's rank under torchrun (0 otherwise): only rank 0 prints."""
    return int(os.environ.get("RANK", "0"))


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default, help=f"random seed (default {default})")


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return parser.parse_args(list(argv) if argv is not None else None)


def method_name(config) -> str:
    """The paper's row name of a model config: CVAE, Shallow, Gauss, MDN4, MDN12, Untied."""
    if config.arch != "cvae" and config.tie == "mdn":
        return f"MDN{config.mixtures}"  # the app's display name says "MDN K=4"
    return config.display_name


def model_samples(model, xc, n: int, seed: int, device=None):
    """Yield (start, samples (b, n, Cg, 32, 32) float32) over xc (B, Cc, 32, 32), seeded once:
    ``cdvae_core.predictor.batched_samples`` (imported here lazily: --help needs no torch)."""
    from ..predictor import batched_samples

    return batched_samples(model, xc, n, seed, device)


def interactive() -> bool:
    """Whether stderr is a terminal: the commands draw progress bars there only (a pipe or log
    file would collect every redraw as one ever-growing line: 81 KB per cdvae-train epoch of
    24,000 pairs)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(total: int, desc: str, unit: str, quiet: bool = False):
    """A tqdm bar on stderr for a command's long stage; disabled with --quiet or when stderr is
    not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=quiet or not interactive(), leave=False)
