"""``cdvae-prepare``: a dataset source and a task in, a pair file out.

    cdvae-prepare --task relighting --coco IMAGES_DIR ANNOTATIONS.json --out pairs.npz
    cdvae-prepare --task motion --ucf101 VIDEOS_DIR SPLITS_DIR --out pairs.npz
    cdvae-prepare --task resaturation --folder DIR --out pairs.npz
    cdvae-prepare --task motion --builtin --limit 3000 --out pairs.npz

Bad items are skipped and summarised; a source with nothing usable exits with status 2 and a
one-line error. The file is written atomically. OpenCV's and FFmpeg's own messages about those
items are silenced unless ``--verbose`` (or their own environment variables) ask for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tqdm import tqdm

from ..pairs import save_pairs
from ..tasks import TASK_NAMES
from ..messages import one_line, one_line_text
from .common import (CliError, Parser, check_output_file, interactive, interrupted_exit, library_warnings,
                     sigterm_as_interrupt)
from ..data.decoder_logs import quiet_decoders
from ..data.errors import DataError
from ..data.features import MAX_FEATURE_WEIGHT, FeatureSettings
from ..data.prepare import prepare_pairs
from ..data.ucf101 import SPLITS


MAX_WORKERS = 256  # worker processes; each holds a copy of the decoders


def build_parser() -> argparse.ArgumentParser:
    # one-line errors like the other commands (argparse's own printed its usage block first)
    parser = Parser(prog="cdvae-prepare", description="Make a CDVAE pair file (.npz) from photos or videos.")
    parser.add_argument("--task", required=True, choices=TASK_NAMES, help="which (x_c, x_g) pairs to make")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", nargs=2, metavar=("IMAGES_DIR", "ANNOTATIONS"), help="MS-COCO image folder and instances JSON")
    source.add_argument("--ucf101", nargs=2, metavar=("VIDEOS_DIR", "SPLITS_DIR"), help="UCF101 videos and split files")
    source.add_argument("--folder", metavar="DIR", help="a folder of images (photo tasks) or videos (motion), recursive")
    source.add_argument("--builtin", action="store_true", help="photos shipped in installed packages (motion: synthetic clips)")
    parser.add_argument("--out", required=True, metavar="PAIRS.npz", help="pair file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out (a model's pair file among them: resuming it then refuses "
                             "the new pairs)")
    parser.add_argument("--split", type=int, default=1, choices=SPLITS, help="UCF101 split number (default 1)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use at most N items (images or videos; built-in: N pairs, default 6000, motion 24000)")
    parser.add_argument("--seed", type=int, default=0, help="seeds item choice, crops and the test split")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of items for testing when the source has no split (default 0.1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--label-weight", type=float, default=FeatureSettings.label_weight, help="weight of f_c's label part")
    parser.add_argument("--layout-weight", type=float, default=FeatureSettings.layout_weight, help="weight of f_c's layout part")
    parser.add_argument("--orientation-weight", type=float, default=FeatureSettings.orientation_weight,
                        help="weight of f_c's orientation part (motion only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true",
                        help="let OpenCV and FFmpeg print their own messages about the files they read")
    return parser


def _source(args: argparse.Namespace):
    if args.coco:
        return ("coco", *args.coco)
    if args.ucf101:
        return ("ucf101", *args.ucf101, args.split)
    if args.folder:
        return ("folder", args.folder)
    return "builtin"


def main(argv: list[str] | None = None) -> int:
    with library_warnings("cdvae-prepare"), sigterm_as_interrupt():
        return _main(argv)


class PrepareBar:
    """A tqdm bar over a prepare generator's items (cdvae-prepare, and cdvae-train --builtin / --folder);
    none when stderr is not a terminal (the summary line the commands print still says what was made)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar = None

    def __call__(self, progress) -> None:
        if self.bar is None and progress.stage == "scan" and "items" in progress.values:
            # open the bar when the work starts: opened at the first "prepare" record (sent after
            # 0.2 s or at the end), it timed only the last moment and showed e.g. 83886080 item/s
            self.bar = tqdm(total=int(progress.values["items"]), unit="item", desc=self.desc, file=sys.stderr,
                            disable=not interactive())
        if progress.stage != "prepare" or self.bar is None:
            return
        self.bar.n = progress.done
        self.bar.set_postfix_str(progress.message, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2, said in one line), as run_main returns them
        return exc.code if isinstance(exc.code, int) else 2
    if not args.out.endswith(".npz") and not os.path.isdir(args.out):  # a folder: check_output_file says so
        # as numpy.savez names it: "--out pairs" wrote a file "pairs", which the Studio (it opens
        # a .npz as the nearest-neighbour baseline) read as a photo that is not one
        args.out += ".npz"
    features = FeatureSettings(label_weight=args.label_weight, layout_weight=args.layout_weight,
                               orientation_weight=args.orientation_weight)
    start = time.monotonic()
    bar = PrepareBar(args.task)
    writing = False
    # silenced before the first video opens: FFmpeg reads its log level once per process
    with quiet_decoders(args.verbose):
        try:
            # Check the output before any work: an unwritable --out used to surface as a traceback
            # only after the whole (possibly hours-long) run.
            check_output_file(args.out, "--out")
            if os.path.exists(args.out) and not args.overwrite:  # it was replaced without a word
                raise CliError(f"--out {args.out} exists: pass --overwrite to replace it, or name a new file")
            for flag, value in (("--label-weight", args.label_weight), ("--layout-weight", args.layout_weight),
                                ("--orientation-weight", args.orientation_weight)):
                # float32 features: 1e308 times them was inf, refused as a broken pair file after the work
                if not 0 <= value <= MAX_FEATURE_WEIGHT:
                    raise CliError(f"{flag} must lie in [0, {MAX_FEATURE_WEIGHT:g}], got {value}")
            if args.workers > MAX_WORKERS:  # 2^70 was an OverflowError from the process pool
                raise CliError(f"--workers must be at most {MAX_WORKERS}, got {args.workers}")
            gen = prepare_pairs(_source(args), args.task, limit=args.limit, seed=args.seed,
                                test_fraction=args.test_fraction, workers=max(1, args.workers), features=features)
            while True:
                try:
                    progress = next(gen)
                except StopIteration as stop:
                    pairs = stop.value
                    break
                if not args.quiet:
                    bar(progress)
            bar.close()
            writing = True
            save_pairs(args.out, pairs)
        except (DataError, CliError) as exc:
            bar.close()
            print(f"cdvae-prepare: error: {one_line(exc)}", file=sys.stderr)
            return 2
        except OSError as exc:
            bar.close()
            if writing:  # the write itself failed (disk full, folder removed meanwhile)
                what = f"cannot write {args.out} ({exc.strerror or exc}); nothing written"
            else:  # the source: a file the system would not read (it was reported as --out failing)
                what = f"cannot read {exc.filename or 'the source'} ({exc.strerror or exc}); nothing written"
            print(f"cdvae-prepare: error: {one_line_text(what)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            bar.close()
            what, code = interrupted_exit(exc)
            print(f"cdvae-prepare: {what}, nothing written", file=sys.stderr)
            return code
    meta = pairs.meta
    counts = meta["counts"]
    print(f"wrote {args.out}: {counts['pairs']} {args.task} pairs ({counts['train']} train, {counts['test']} test) "
          f"from {counts['items']} {meta['source']['kind']} item(s) in {time.monotonic() - start:.1f} s")
    if "split_fallback" in meta:  # the source's own split was unusable (split_method says how it was drawn)
        print(f"  split fell back to a {meta['split_method']}")
    elif meta["split_method"] not in ("source", "seeded fraction"):  # e.g. a folder of UCF101 videos
        print(f"  split: {meta['split_method']}")
    print(f"  xc {tuple(pairs.xc.shape)} range {meta['xc_observed']}, xg {tuple(pairs.xg.shape)} range {meta['xg_observed']}, "
          f"fc {tuple(pairs.fc.shape)}, fg {tuple(pairs.fg.shape)}")
    skipped = meta["skipped"]
    print(f"  skipped {skipped['count']} item(s)")
    from ..data.errors import SkipLog  # summary lines from the meta counts

    for line in SkipLog.from_meta(skipped).summary_lines():
        print(line)
    dropped = meta["source"].get("annotations_dropped", 0)
    if dropped:  # COCO: the images stay, these boxes do not count in f_c
        print(f"  dropped {dropped} unusable annotation(s) (no valid bbox or area, unknown category or "
              "image id, or an image without width/height)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
