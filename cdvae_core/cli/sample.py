"""``cdvae-sample``: conditional samples of a saved model.

    cdvae-sample --model runs/mdn4 --pairs pairs.npz --n 30 --out samples.npz
    cdvae-sample --model runs/mdn4 --image photo.jpg --n 8 --export results/
    cdvae-sample --model runs/mdn4 --image photo.jpg --n 4 --distinct --export results/
    cdvae-sample --reproduce results/photo_003.json [--out again.png] [--overwrite]

With ``--pairs`` it writes ``samples`` float32 (N_test, N, Cg, 32, 32) for the test split (and
``index``, the test rows of the pair file); with ``--image`` it writes N full-resolution
results and their JSON sidecars through cdvae_core.postprocess.export: each the model's full
sample (code and lower latent layers drawn), or with ``--lower-means`` its lower layers at their
conditional means; ``--conditional exact|paper`` draws the codes from that p(z_g | z_c) instead of
the model's own (as ``cdvae-eval --conditional``). ``--distinct [POOL]`` makes the N samples (results) the N most distinct of POOL draws
(cdvae_core.distinct), largest cluster first, and reports each one's share of the draws.
With ``--reproduce`` it re-renders one exported result from its sidecar (the
model and photo recorded there, both checked to be unchanged) into ``--out``, by default
``<stem>_reproduced.<ext>`` next to the sidecar.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import unwritable_reason, write_with
from ..distinct import DISTINCT_POOL, MAX_POOL
from ..pairs import TEST, load_pairs
from .common import (CliError, Parser, add_conditional, check_draws, check_output_file, check_pairs_fit, check_seed,
                     model_inputs, parse, progress_bar, run_main, use_conditional)

PROG = "cdvae-sample"


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Draw conditional samples from a saved model, "
                                      "or re-render an exported result from its sidecar.")
    # --model and --n are checked in _body: --reproduce reads both from the sidecar
    p.add_argument("--model", help="saved model directory (with --reproduce: instead of the recorded one, "
                                   "e.g. after moving it; it must hold the same weights)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", help="pair file: sample every test pair (split == 1)")
    src.add_argument("--image", help="one photo (or frame, for motion; a video gives its first frame, \"clip.mp4#t=2.5\" its frame at 2.5 s), "
                          "or a folder of photos: full-resolution results")
    src.add_argument("--reproduce", metavar="SIDECAR.json",
                     help="re-render the exported result a sidecar describes, from the model and photo it records")
    p.add_argument("--n", type=int, help="samples per conditioning image (--pairs, --image)")
    p.add_argument("--out", help="with --pairs: output .npz; with --reproduce: output .png or .jpg "
                                 "(default: <sidecar stem>_reproduced.<ext> next to the sidecar)")
    p.add_argument("--overwrite", action="store_true",
                   help="with --reproduce: replace an existing output file (the exported original too); with "
                        "--pairs: replace an existing --out file; with --image: remove earlier results of the same photos in "
                        "--export and number from 000 again (without it they are kept and the new ones numbered after them)")
    p.add_argument("--export", help="with --image: output folder")
    p.add_argument("--format", help="with --image: png, jpg or png16 (default png)")
    p.add_argument("--seed", type=int, help="with --pairs, --image: seed of the samples (default 0)")
    p.add_argument("--temperature", type=float, default=None,
                   help="with --image: spread of the drawn codes and lower-layer noise, 0-2 (default 1, the model's conditional; "
                        "lower pulls the same samples toward its means)")
    p.add_argument("--distinct", type=int, nargs="?", const=DISTINCT_POOL, default=None, metavar="POOL",
                   help=f"the N results are the N most distinct of POOL samples (default {DISTINCT_POOL}): k-means "
                        "clusters of the samples, each given by its most central sample, largest cluster first; "
                        "prints each one's share of the POOL (--image: also in its sidecar; --pairs: the array "
                        "\"shares\")")
    p.add_argument("--lower-means", action="store_true",
                   help="with --image: decode the lower latent layers at their conditional means instead of "
                        "drawing them: smoother results that show less of the model's spread (default: draw them, "
                        "so each result is a full sample of the model)")
    add_conditional(p, "with --pairs, --image: draw the samples")
    return p


def _write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    write_with(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def _reproduce(args) -> int:
    given = [flag for flag, value in (("--n", args.n), ("--seed", args.seed), ("--export", args.export),
                                      ("--format", args.format), ("--temperature", args.temperature),
                                      ("--lower-means", args.lower_means or None), ("--distinct", args.distinct),
                                      ("--conditional", args.conditional))
             if value is not None]
    if given:
        raise CliError(f"{given[0]} does not go with --reproduce: the sidecar records how the result was made")
    if args.out is not None and not args.out.strip():
        raise CliError("--out is empty: name an output .png or .jpg file")
    from ..postprocess.reproduce import reproduce_file
    from ..postprocess.imagefiles import read_image

    predictor = None
    if args.model is not None:
        from ..checkpoint import load_model

        predictor = load_model(args.model)
    written, original = reproduce_file(args.reproduce, args.out, overwrite=args.overwrite, predictor=predictor,
                                       overwrite_hint="--overwrite")
    if original is None:
        print(f"wrote {written} (the exported result is not beside the sidecar to compare)", file=sys.stderr)
    elif written.resolve() == original.resolve():
        print(f"wrote {written} (replaced the exported result)", file=sys.stderr)
    else:
        # a check the user can read: the sidecar promises the very same pixels
        diff = np.abs(read_image(written).astype(np.int16) - read_image(original).astype(np.int16))
        if diff.max() == 0:
            print(f"wrote {written}: identical to {original.name}", file=sys.stderr)
        else:
            lossy = " (JPEG is lossy)" if {".jpg", ".jpeg"} & {written.suffix.lower(), original.suffix.lower()} else ""
            print(f"wrote {written}: differs from {original.name} in {int((diff.max(axis=2) > 0).sum())} pixel(s), "
                  f"by up to {int(diff.max())} level(s){lossy}", file=sys.stderr)
    return 0


def _body(argv: Sequence[str] | None) -> int:
    args = parse(build_parser(), argv)
    if args.reproduce is not None:
        return _reproduce(args)
    missing = [flag for flag, value in (("--model", args.model), ("--n", args.n)) if value is None]
    if missing:  # argparse's wording, now that --reproduce makes them optional
        raise CliError(f"the following arguments are required: {', '.join(missing)}")
    args.seed = 0 if args.seed is None else args.seed
    check_seed(args.seed)
    check_draws("--n", args.n)
    if args.distinct is not None and args.distinct < args.n:
        raise CliError(f"--distinct {args.distinct}: the pool must hold at least the --n {args.n} results")
    if args.distinct is not None and args.distinct > MAX_POOL:
        raise CliError(f"--distinct {args.distinct}: at most {MAX_POOL} draws are clustered")
    from ..checkpoint import load_model

    if args.pairs is not None:
        if args.export is not None:
            raise CliError("--export goes with --image; with --pairs use --out FILE.npz")
        if args.temperature is not None:
            raise CliError("--temperature goes with --image; --pairs writes the model's own samples (temperature 1)")
        if args.lower_means:
            raise CliError("--lower-means goes with --image; --pairs writes the model's full samples "
                           "(every latent layer drawn)")
        if args.format is not None:
            raise CliError("--format goes with --image; --pairs writes float32 layers to an .npz file")
        if args.out is None:  # used to say "--out is empty", as if an empty name had been given
            raise CliError("--pairs needs --out FILE.npz (the samples file to write)")
        out = check_output_file(args.out, "--out", [("--pairs", args.pairs), *model_inputs(args.model)])
        if out.exists() and not args.overwrite:  # it was replaced without a word
            raise CliError(f"--out {out} exists: pass --overwrite to replace it, or name a new file")
        pairs = load_pairs(args.pairs, require_test=True)
        predictor = load_model(args.model)
        check_pairs_fit(pairs, predictor.config)
        use_conditional(predictor, args.conditional)
        index = np.flatnonzero(pairs.split == TEST)
        arrays = {"index": index.astype(np.int64)}
        if args.distinct is None:
            arrays["samples"] = predictor.sample_batch(pairs.xc[index], args.n, args.seed)  # (N_test, N, Cg, 32, 32)
        else:
            arrays["samples"], arrays["shares"] = _distinct_samples(predictor, pairs.xc[index], args)
            shares = arrays["shares"]
            print(f"distinct samples: the largest cluster holds {shares[:, 0].mean():.0%} of {args.distinct} draws "
                  f"on average, the smallest {shares[:, -1].mean():.0%}", file=sys.stderr)
        _write_npz(out, arrays)
        samples = arrays["samples"]
        print(f"wrote {samples.shape[0]} x {args.n} samples to {out}", file=sys.stderr)
        return 0

    if args.out is not None:
        raise CliError("--out goes with --pairs; with --image use --export DIR")
    if args.export is None or not args.export.strip():
        raise CliError("--image needs --export DIR (the folder for the results)")
    if Path(args.export).exists() and not Path(args.export).is_dir():
        # checked up front: it used to fail only at the first write, naming "FILE/stem_000.png"
        raise CliError(f"--export {args.export} is a file, not a folder")
    why = unwritable_reason(args.export)  # a path under a file, a read-only place: before any work too
    if why is not None:
        raise CliError(f"--export {args.export} {why}")
    from ..postprocess import ExportSettings, export_results
    from ..postprocess.export import result_stem
    from ..predictor import MAX_TEMPERATURE

    temperature = 1.0 if args.temperature is None else args.temperature
    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise CliError(f"--temperature must lie in [0, {MAX_TEMPERATURE}], got {temperature}")
    predictor = load_model(args.model)
    use_conditional(predictor, args.conditional)
    settings = ExportSettings(temperature=temperature, lower_layers=not args.lower_means,
                              distinct_pool=args.distinct or 0)
    if Path(args.image).is_dir():
        return _export_folder(predictor, args, settings)
    written = export_results(predictor, args.image, args.n, args.export, seed=args.seed, fmt=args.format or "png",
                             settings=settings, first_index=_first_index(args, [result_stem(args.image, 0)]))
    print(f"wrote {len(written)} result(s) to {args.export}", file=sys.stderr)
    if args.distinct:
        for picture in written:
            share = json.loads(picture.with_suffix(".json").read_text())["share"]
            print(f"{picture.name}: {share:.0%} of {args.distinct} samples", file=sys.stderr)
    return 0


def _first_index(args, stems: list[str]) -> int:
    """The number --image's results start from: past earlier results of the same photos in the
    --export folder (every export of a photo numbers from 000, and a second one replaced the
    first one's files without a word), or 000 again with --overwrite, which replaces them."""
    from ..postprocess.export import existing_results, remove_results

    count, top = existing_results(args.export, stems)
    if not count:
        return 0
    names = ", ".join(sorted(set(stems))[:3]) + (" ..." if len(set(stems)) > 3 else "")
    if args.overwrite:  # all of them: writing from 000 again left those past the new count behind
        remove_results(args.export, stems)
        print(f"--overwrite: replacing {count} earlier result(s) of {names} in {args.export}", file=sys.stderr)
        return 0
    print(f"{args.export} already holds {count} earlier result(s) of {names}: the new ones are numbered "
          f"from {top + 1:03d} (--overwrite replaces them instead)", file=sys.stderr)
    return top + 1


def _distinct_samples(predictor, xc: np.ndarray, args) -> tuple[np.ndarray, np.ndarray]:
    """--pairs --distinct: samples (B, n, Cg, 32, 32) and shares (B, n) for xc (B, Cc, 32, 32);
    pair i is drawn with seed + i (a pool per image, so its samples are the image's own draws)."""
    samples = np.empty((len(xc), args.n, predictor.config.channels_g, 32, 32), np.float32)
    shares = np.empty((len(xc), args.n), np.float32)
    with progress_bar(len(xc), "distinct", "pair") as bar:
        for i, x in enumerate(xc):
            cond = predictor.prepare(x)
            codes, noise, share = predictor.draw_distinct(cond, args.n, args.seed + i, pool=args.distinct)
            if len(codes) < args.n:
                raise CliError(f"test pair {i}: only {len(codes)} of its {args.distinct} draws differ, "
                               f"fewer than --n {args.n}")
            samples[i], shares[i] = predictor.decode(cond, codes, noise), share
            bar.update(1)
    return samples, shares


def _export_folder(predictor, args, settings) -> int:
    """--image FOLDER: n results for every photo directly in it, with a progress bar; photos that
    cannot be read are listed and skipped (exit 1 when any was, so scripts notice)."""
    from ..postprocess import export_folder
    from ..postprocess.export import result_stem
    from ..postprocess.imagefiles import list_images

    photos = list_images(args.image)
    count = len(photos)
    if not count:
        raise CliError(f"--image {args.image}: no image or video files in that folder")
    first = _first_index(args, [result_stem(photo, i) for i, photo in enumerate(photos)])
    with progress_bar(count * args.n, "export", "result") as bar:
        report = export_folder(predictor, args.image, args.n, args.export, args.seed, args.format or "png",
                               settings=settings, on_progress=lambda record: bar.update(record.done - bar.n),
                               first_index=first)
    print(f"wrote {len(report.results)} result(s) for {count - len(report.failed)} of {count} "
          f"image(s) to {args.export}", file=sys.stderr)
    for name, why in report.failed:
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: _body(argv))


if __name__ == "__main__":
    raise SystemExit(main())
