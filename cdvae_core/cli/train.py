"""``cdvae-train`` (and ``python train.py``): train a CDVAE or a baseline on a pair file.

    cdvae-train --pairs pairs.npz --tie mdn --mixtures 4 --epochs 40 --out runs/mdn4
    cdvae-train --builtin --task resaturation --out runs/demo
    torchrun --nproc_per_node 2 train.py --pairs pairs.npz --out runs/ddp

Settings come from the defaults, then ``--config FILE.json`` (a saved model's config.json or
{"model": {...}, "training": {...}} or flat keys), then the flags given on the command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..config import (ARCHS, MAX_DEFAULT_LAYERS, MOTION_HELD_GUIDANCE, RUN_RECORD_KEYS, TIES, ConfigError,
                      ModelConfig, TrainConfig, read_small_text, typed_values, unique_keys)
from ..pairs import PairSet, load_pairs
from ..progress import Progress
from .common import EXIT_FAILED, CliError, Parser, interactive, interrupted_exit, parse, rank, run_main

PROG = "cdvae-train"


def build_parser() -> Parser:
    # defaults in the help come from the dataclasses, so they cannot drift from what a run uses
    M, T = ModelConfig, TrainConfig
    p = Parser(prog=PROG, description="Train a CDVAE (Gaussian or MDN tie), a Shallow CDVAE or a CVAE.")
    src = p.add_argument_group("data (one of)")
    src.add_argument("--pairs", help="pair file (.npz) with xc, xg and a split")
    src.add_argument("--builtin", action="store_true", help="make pairs from the built-in photos / clips")
    src.add_argument("--folder", help="make pairs from a folder of images (or videos for --task motion)")
    src.add_argument("--limit", type=int, help="with --builtin/--folder: use at most this many items")
    m = p.add_argument_group("model")
    from ..tasks import NO_PHOTO_TASK, TASK_NAMES

    # choices: "--task foo" was blamed on the pair file ("--task foo but the pair file was made for ...")
    m.add_argument("--task", choices=(*TASK_NAMES, NO_PHOTO_TASK),
                   help="relighting, resaturation or motion (default: the pair file's; synthetic: layers of no photo task)")
    m.add_argument("--arch", choices=ARCHS, help=f"cdvae or the cvae baseline (default {M.arch})")
    m.add_argument("--tie", choices=TIES, help=f"cdvae: tie of the top codes, gauss, mdn or none (default {M.tie})")
    m.add_argument("--mixtures", type=int, help=f"with --tie mdn: mixture components K (paper: 4, 12; default {M.mixtures})")
    m.add_argument("--layers", type=int, help=f"cdvae: latent layers L, 1-{MAX_DEFAULT_LAYERS} (1 = Shallow CDVAE; "
                                                f"default {len(M.latent_sizes)})")
    m.add_argument("--top-skip", action="store_true", default=None,
                   help="cdvae, 3+ layers: every lower layer's prior also sees the code z_L (docs/model.md)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, help=f"passes over the training split (default {T.epochs})")
    t.add_argument("--batch-size", type=int, help=f"pairs per step, per process (default {T.batch_size})")
    t.add_argument("--lr", type=float, help=f"Adam learning rate (default {T.lr:g})")
    t.add_argument("--kl-warmup", type=float, help=f"epochs of the KL warm-up 0 -> 1 (default {T.kl_warmup_epochs:g})")
    t.add_argument("--ladder-warmup", type=float,
                   help=f"cdvae: epochs over which lower layers open up 0 -> 1 (default {T.lower_warmup_epochs:g})")
    t.add_argument("--guidance-start", type=float,
                   help=f"cdvae: embedding-guidance weight at the start (default {T.guidance_start:g}, motion "
                        f"{MOTION_HELD_GUIDANCE:g}; 0 = off)")
    t.add_argument("--guidance-end", type=float,
                   help=f"cdvae: weight reached at --guidance-epochs, > 0 (default {T.guidance_end:g}; motion: "
                        "the start weight, held throughout)")
    t.add_argument("--guidance-epochs", type=float, help=f"cdvae: epochs of the geometric decay (default {T.guidance_epochs:g})")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), help=f"where to train (default {T.device})")
    t.add_argument("--seed", type=int, help=f"seeds initialisation, data order and noise (default {T.seed})")
    t.add_argument("--config", help="JSON settings file (flags given here override it)")
    p.add_argument("--out", required=True, help="output directory (new, or the run to --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def read_config_file(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model settings, training settings) from a JSON file; unknown keys are a ConfigError."""
    try:
        data = json.loads(read_small_text(path), object_pairs_hook=unique_keys)
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path} ({exc.strerror or exc})") from exc
    except ValueError as exc:  # not JSON text, not a regular file (/dev/zero never ends), too large, a key twice
        raise ConfigError(f"cannot read --config {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a JSON object")
    check_config_format(path, data)
    if "model" in data or "training" in data:
        # a misspelt section ("train") or a flat setting beside the sections was ignored: the run
        # trained on defaults without a word
        stray = sorted(set(data) - {"model", "training", *RUN_RECORD_KEYS})
        if stray:
            raise ConfigError(f"--config {path}: unknown section(s) {', '.join(stray)}; a file with sections holds "
                              "'model' and 'training' (and, a saved config.json, the record of its run)")
        parts = data.get("model", {}), data.get("training", {})
        if not all(isinstance(part, dict) for part in parts):
            raise ConfigError(f"--config {path}: 'model' and 'training' must be JSON objects")
        model, training = dict(parts[0]), dict(parts[1])
    else:
        model_keys = set(ModelConfig.__dataclass_fields__)
        train_keys = set(TrainConfig.__dataclass_fields__)
        unknown = sorted(set(data) - model_keys - train_keys)
        if unknown:
            raise ConfigError(f"--config {path}: unknown setting(s) {', '.join(unknown)}")
        model = {k: v for k, v in data.items() if k in model_keys}
        training = {k: v for k, v in data.items() if k in train_keys}
    # every value checked here: one a flag replaces (a string epochs beside --epochs) went unsaid
    try:
        typed_values(ModelConfig, model), typed_values(TrainConfig, training)
    except ConfigError as exc:
        raise ConfigError(f"--config {path}: {exc}") from None
    return model, training


def check_config_format(path: str, data: dict[str, Any]) -> None:
    """ConfigError for a file that declares a format or format_version this library does not read,
    as cdvae-eval and --resume refuse it (a config.json of another version trained on whatever its
    keys happened to mean here); a file of plain settings, without those keys, is not checked."""
    from ..checkpoint import format_problem

    if "format" not in data and "format_version" not in data:
        return
    problem = format_problem(data)
    if problem:
        raise ConfigError(f"--config {path} {problem}")


def load_source(args) -> PairSet:
    chosen = [name for name, on in (("--pairs", args.pairs), ("--builtin", args.builtin), ("--folder", args.folder)) if on]
    if len(chosen) != 1:
        raise CliError("give exactly one data source: --pairs FILE, --builtin or --folder DIR")
    if args.pairs:
        if args.limit is not None:
            raise CliError("--limit goes with --builtin or --folder; a --pairs file is used whole")
        return load_pairs(args.pairs)
    if not args.task:
        raise CliError(f"{chosen[0]} needs --task (relighting, resaturation or motion)")
    from ..data.decoder_logs import quiet_decoders
    from ..data.prepare import prepare_pairs, run
    from .prepare import PrepareBar

    source = "builtin" if args.builtin else ("folder", args.folder)
    show = rank() == 0 and not args.quiet
    # cdvae-prepare's bar: a line per record (every 0.2 s, stage starts and ends twice) flooded the
    # terminal on a large folder and said "guidance features" twice
    bar = PrepareBar(f"prepare {args.task}")

    def on_progress(pr: Progress) -> None:
        bar(pr)
        if pr.stage == "done":
            bar.close()
            print(f"prepare: {pr.message}", file=sys.stderr)

    try:
        # the summary counts every skipped file; OPENCV_LOG_LEVEL etc. bring the decoders' lines back
        with quiet_decoders():
            return run(prepare_pairs(source, args.task, limit=args.limit, seed=args.seed or 0),
                       on_progress if show else None)
    finally:
        bar.close()


def settings(args, pairs: PairSet) -> tuple[ModelConfig, TrainConfig]:
    """Defaults < --config < flags; channels always come from the pairs."""
    model: dict[str, Any] = {}
    training: dict[str, Any] = {}
    if args.config:
        model, training = read_config_file(args.config)
    file_task = pairs.meta.get("task")
    if args.task and file_task and args.task != file_task:
        raise CliError(f"--task {args.task} but the pair file was made for {file_task}")
    # A --config task (e.g. another model's config.json) must agree with the pair file too: it used
    # to win silently, giving e.g. a "relighting" model with resaturation's channels that could not
    # sample a photo. The --task flag, already checked against the file, overrides it.
    config_task = model.get("task")
    if not args.task and config_task and file_task and config_task != file_task:
        raise CliError(f"--config {args.config} sets task {config_task} but the pair file was made for {file_task}")
    task = args.task or config_task or file_task or ModelConfig.task
    from ..tasks import layers_problem, model_defaults

    problem = layers_problem(task, pairs.xc, pairs.xg)  # said before anything is written or computed
    if problem and task == (args.task or config_task or file_task):
        raise CliError(f"these pairs do not fit {task}: {problem}")
    if problem:
        raise CliError(f"the pair file names no task (its meta \"task\"), and its layers do not fit "
                       f"{task}, the default: {problem}; give --task (synthetic for layers of no photo task)")
    model.update(task=task, channels_c=pairs.channels[0], channels_g=pairs.channels[1])

    for key, value in model_defaults(task).items():
        model.setdefault(key, value)
    for flag, key in (("arch", "arch"), ("tie", "tie"), ("mixtures", "mixtures")):
        if getattr(args, flag) is not None:
            model[key] = getattr(args, flag)
    if args.layers is not None:
        model["latent_sizes"], model["hidden_sizes"] = ModelConfig.sizes_for_layers(args.layers)
    if args.top_skip:
        model["top_skip"] = True
    flags = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "kl_warmup_epochs": args.kl_warmup,
             "lower_warmup_epochs": args.ladder_warmup,
             "guidance_start": args.guidance_start, "guidance_end": args.guidance_end,
             "guidance_epochs": args.guidance_epochs, "num_threads": args.threads, "device": args.device,
             "seed": args.seed}
    training.update({k: v for k, v in flags.items() if v is not None})
    check_flags_apply(args, model.get("arch", ModelConfig.arch), model.get("tie", ModelConfig.tie))
    from ..tasks import train_defaults

    model_cfg = ModelConfig.from_dict(model)
    training = {**train_defaults(task, training, model_cfg.layers), **training}
    return model_cfg, TrainConfig.from_dict(training)


# flags that set something only the CDVAE has: the CVAE has no tie, no ladder and no guidance
CDVAE_ONLY = (("tie", "--tie"), ("mixtures", "--mixtures"), ("layers", "--layers"), ("top_skip", "--top-skip"),
              ("ladder_warmup", "--ladder-warmup"),
              ("guidance_start", "--guidance-start"), ("guidance_end", "--guidance-end"),
              ("guidance_epochs", "--guidance-epochs"))


def check_flags_apply(args, arch: str, tie: str) -> None:
    """CliError for a flag given on the command line that the chosen model would ignore."""
    if arch == "cvae":
        given = [flag for name, flag in CDVAE_ONLY if getattr(args, name) is not None]
        if given:
            raise CliError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to the CVAE baseline "
                           "(arch cvae): it has no tie, latent ladder or embedding guidance")
    elif args.mixtures is not None and tie != "mdn":
        raise CliError(f"--mixtures goes with --tie mdn; the {tie!r} tie has no mixture components")


def guard_note(row: dict) -> str:
    """What the step guard did in an epoch (its metrics row), or "" when it let every step through."""
    skipped, forced = int(row.get("skipped", 0)), int(row.get("forced_updates", 0))
    if not skipped and not forced:
        return ""
    note = f", {skipped} update(s) skipped (loss or gradient norm not finite or above skip_threshold)"
    return note + (f", {forced} applied clipped after spike_patience skips in a row" if forced else "")


class Display:
    """tqdm over the run's steps: loss terms and images/s in the postfix, ETA by tqdm."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None

    def __call__(self, pr: Progress) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if pr.stage == "train":
            if self.bar is None:
                # drawn on a terminal only; a log gets the epoch lines below
                self.bar = tqdm(total=pr.total, initial=pr.done - 1, unit="step", dynamic_ncols=True, file=sys.stderr,
                                disable=not interactive())
            v = pr.values
            # images/s first: a terminal narrower than the postfix cuts its end, and at 150 columns
            # it cut the rate mid-number ("img/s=2" at 216)
            shown = {"img/s": f"{v.get('images_per_s', 0):.0f}"}
            shown.update({k: f"{v[k]:.4g}" for k in ("loss", "rec_c", "rec_g", "kl_c", "kl_g", "tie", "guidance")
                          if k in v})
            self.bar.set_description(pr.message)
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(pr.done - self.bar.n)
        elif pr.stage == "epoch":
            v = pr.values
            test = f", test loss {v['test_loss']:.4g}" if "test_loss" in v else ""
            line = (f"epoch {pr.done}/{pr.total}: loss {v.get('loss', float('nan')):.4g}{test}, "
                    f"{v.get('images_per_s', 0):.0f} images/s, {v.get('seconds', 0):.1f} s{guard_note(v)}")
            (self.bar.write if self.bar is not None else print)(line, file=sys.stderr)
        else:
            (self.bar.write if self.bar is not None else print)(pr.message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _body(argv: Sequence[str] | None) -> int:
    from ..training import TrainingError, train

    args = parse(build_parser(), argv)
    if not args.out.strip():
        raise CliError("--out is empty: name an output directory")
    from ..train_dir import check_out_dir, check_resumable

    out = Path(args.out)
    # before the source is read: --builtin or --folder took 1.5 minutes of preparing first
    check_out_dir(out, args.resume)
    if args.resume:
        check_resumable(out)  # "nothing to resume in ..." before any work too
    if args.resume and not args.config and (out / "config.json").is_file():
        # the run's own settings: "--pairs P --out D --resume", as the docs show it, was refused
        # as "trained with other settings" unless every flag of the first run was given again
        args.config = str(out / "config.json")
    pairs = load_source(args)
    model_cfg, train_cfg = settings(args, pairs)
    display = Display(args.quiet or rank() != 0)
    gen = train(pairs, model_cfg, train_cfg, args.out, resume=args.resume)
    try:
        for pr in gen:
            display(pr)
    except TrainingError as exc:
        display.close()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (run_main's sigterm_as_interrupt)
        gen.close()
        display.close()
        what, code = interrupted_exit(exc)
        print(f"{PROG}: {what}; {_kept(out)}", file=sys.stderr)
        return code
    display.close()
    return 0


def _kept(out: Path) -> str:
    """What an interrupted run left in ``out``, for the user."""
    from ..train_dir import saved_epochs

    epochs = saved_epochs(out)
    if epochs is not None:
        return f"epoch {epochs} is kept in {out} (continue with --resume)"
    return f"no epoch had been saved yet in {out} (--resume starts it over)"


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: _body(argv))


if __name__ == "__main__":
    raise SystemExit(main())
