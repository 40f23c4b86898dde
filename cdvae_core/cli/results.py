"""``cdvae-results``: the paper's Tables 2-4, Figure 4 and a Figure 5-style picture in one command.

    cdvae-results --quick                          # minutes: CI smoke test
    cdvae-results                                  # full mode, about 25 minutes on 2 idle cores
    cdvae-results --install-builtin assets/models  # also ship the Gauss and MDN4 models

Per task: build (and cache in --work) the pair file, train CVAE, Shallow, Gauss, MDN4 and MDN12,
score them and the nearest neighbour on the test split; then the known-mode synthetic
benchmark. Writes OUT/results.md, OUT/results.json, OUT/images/figure4.png and
OUT/images/figure5_<task>.png.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

from ..atomic import unwritable_reason, write_text_atomic
from ..progress import Progress
from ..tasks import TASK_NAMES
from .common import CliError, Parser, add_seed, check_draws, parse, run_main

PROG = "cdvae-results"


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Regenerate the paper's tables and figures (and the built-in models).")
    p.add_argument("--quick", action="store_true", help="small data and few epochs (minutes; CI smoke)")
    p.add_argument("--tasks", default=",".join(TASK_NAMES), help=f"comma-separated tasks (default {','.join(TASK_NAMES)})")
    p.add_argument("--work", default="runs/results", help="cache of pair files and trained models (default runs/results)")
    p.add_argument("--out", default="docs", help="where results.md, results.json and images/ go (default docs)")
    p.add_argument("--install-builtin", metavar="DIR", help="also install the Gauss and MDN4 models here (e.g. assets/models)")
    p.add_argument("--install-max-mb", type=float, default=5.0, help="size budget in MB of each installed model dir (default 5)")
    p.add_argument("--coco", nargs=2, metavar=("IMAGES", "ANNOTATIONS"), help="photo tasks on MS-COCO instead of built-in photos")
    p.add_argument("--ucf101", nargs=2, metavar=("VIDEOS", "SPLITS"), help="motion on UCF101 instead of synthetic clips")
    p.add_argument("--no-synthetic", action="store_true", help="skip the known-mode synthetic benchmark")
    p.add_argument("--threads", type=int, help="torch CPU threads for training (default: 1 quick, torch's default full)")
    p.add_argument("--nll-k", type=int, help="importance samples per pair for the NLL column (default 100, quick 50; "
                   "0 leaves it out; with the same --work the trained models are reused)")
    add_seed(p)
    return p


def parse_tasks(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if not tasks or unknown:
        raise CliError(f"--tasks must name some of {', '.join(TASK_NAMES)}; got {text!r}")
    return list(dict.fromkeys(tasks))


class Printer:
    """One stderr line per new stage or message prefix, at most every 2 s within one."""

    def __init__(self) -> None:
        self.last = ("", 0.0)

    def __call__(self, pr: Progress) -> None:
        key = pr.message.split(":")[0] + pr.stage
        now = time.monotonic()
        if key != self.last[0] or now - self.last[1] > 2.0 or pr.done == pr.total:
            print(f"{PROG}: [{pr.stage}] {pr.message} ({pr.done}/{pr.total})", file=sys.stderr, flush=True)
            self.last = (key, now)


def check_folders(args) -> None:
    """CliError unless --out, --work and --install-builtin can be written (checked before any
    work: a full run takes about 25 minutes and an --out under a file failed only at its end)."""
    folders = [("--out", args.out), ("--out", Path(args.out) / "images"), ("--work", args.work)]
    if args.install_builtin is not None:
        folders.append(("--install-builtin", args.install_builtin))
    for flag, folder in folders:
        if not str(folder).strip():
            raise CliError(f"{flag} is empty: name a folder")
        if Path(folder).exists() and not Path(folder).is_dir():
            raise CliError(f"{flag} {folder} is not a folder")
        why = unwritable_reason(folder)
        if why is not None:
            raise CliError(f"{flag} {folder} {why}")
    for name in ("results.md", "results.json"):
        if (Path(args.out) / name).is_dir():
            raise CliError(f"--out {args.out} holds a folder named {name}, where the command writes a file")


def check_sources(args, tasks: list[str]) -> None:
    """A data source flag for tasks the run leaves out would be ignored: refuse it instead."""
    if args.coco and not {"relighting", "resaturation"} & set(tasks):
        raise CliError("--coco feeds relighting and resaturation, and --tasks names neither")
    if args.ucf101 and "motion" not in tasks:
        raise CliError("--ucf101 feeds the motion task, and --tasks leaves it out")


def _body(argv: Sequence[str] | None) -> int:
    args = parse(build_parser(), argv)
    tasks = parse_tasks(args.tasks)
    if not (math.isfinite(args.install_max_mb) and args.install_max_mb > 0.5):
        raise CliError(f"--install-max-mb must be a number above 0.5, got {args.install_max_mb}")
    if args.seed < 0:
        raise CliError(f"--seed must be 0 or more, got {args.seed}")
    check_sources(args, tasks)
    check_folders(args)
    from ..experiments.data import cache_path
    from ..progress import drive
    from ..experiments.figures import figure4, figure5
    from ..experiments.install import install_builtin
    from ..experiments.report import write_results_md
    from ..experiments.runner import run_suite
    from ..experiments.suite import settings_for
    from ..pairs import load_pairs
    import json

    settings = settings_for(args.quick, args.seed)
    if args.threads is not None:
        if args.threads < 0:
            raise CliError("--threads must be 0 (torch's default) or more")
        settings = dataclasses.replace(settings, threads=args.threads)
    if args.nll_k is not None:
        # the k = 100 estimate sits 12-43 nats above k = 2,000 (docs/embedding_and_metrics.md)
        check_draws("--nll-k", args.nll_k, least=0)
        settings = dataclasses.replace(settings, nll_k=args.nll_k)
    sources = {}
    if args.coco:
        sources.update({t: ("coco", *args.coco) for t in ("relighting", "resaturation")})
    if args.ucf101:
        sources["motion"] = ("ucf101", *args.ucf101)
    out, work = Path(args.out), Path(args.work)
    command = " ".join([PROG, *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    t0 = time.perf_counter()
    results = drive(run_suite(settings, tasks, work, sources, synthetic=not args.no_synthetic), Printer())
    pairs = {t: load_pairs(cache_path(work, t, sources.get(t, "builtin"), settings)) for t in tasks}
    images = {"figure4": "images/figure4.png"}
    figure4(results, out / images["figure4"])
    for task in tasks:
        print(f"{PROG}: [figure] {task}", file=sys.stderr, flush=True)
        models = {row: Path(p) for row, p in results["tasks"][task]["models"].items()}
        if figure5(task, pairs[task], models, settings, out / "images" / f"figure5_{task}.png") is not None:
            images[task] = f"images/figure5_{task}.png"
    results["wall_seconds"] = time.perf_counter() - t0
    results["command"] = command
    write_text_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    md = write_results_md(out / "results.md", results, images)
    print(f"{PROG}: wrote {md} ({results['wall_seconds'] / 60:.1f} min)", file=sys.stderr)
    if args.install_builtin:
        installed = install_builtin(results, pairs, args.install_builtin, command, args.install_max_mb)
        for task, models in installed.items():
            for row, info in models.items():
                print(f"{PROG}: installed {task} {row} in {info['dir']} ({info['bytes'] / 1e6:.2f} MB)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: _body(argv))


if __name__ == "__main__":
    raise SystemExit(main())
