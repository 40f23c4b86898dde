"""``cdvae-sample``: conditional samples of a saved model.

    cdvae-sample --model runs/mdn4 --pairs pairs.npz --n 30 --out samples.npz
    cdvae-sample --model runs/mdn4 --image photo.jpg --n 8 --export results/

With ``--pairs`` it writes ``samples`` float32 (N_test, N, Cg, 32, 32) for the test split (and
``index``, the test rows of the pair file); with ``--image`` it writes N full-resolution
results and their JSON sidecars through cdvae_core.postprocess.export: each the model's full
sample (code and lower latent layers drawn), or with ``--lower-means`` its lower layers at their
conditional means.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import write_with
from ..pairs import TEST, load_pairs
from .common import CliError, Parser, check_channels, check_output_file, parse, run_main

PROG = "cdvae-sample"


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Draw conditional samples from a saved model.")
    p.add_argument("--model", required=True, help="saved model directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", help="pair file: sample every test pair (split == 1)")
    src.add_argument("--image", help="one photo (or frame, for motion): full-resolution results")
    p.add_argument("--n", type=int, required=True, help="samples per conditioning image")
    p.add_argument("--out", help="with --pairs: output .npz")
    p.add_argument("--export", help="with --image: output folder")
    p.add_argument("--format", help="with --image: png, jpg or png16 (default png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--temperature", type=float, default=None,
                   help="with --image: spread of the drawn codes and lower-layer noise, 0-2 (default 1, the model's conditional; "
                        "lower pulls the same samples toward its means)")
    p.add_argument("--lower-means", action="store_true",
                   help="with --image: decode the lower latent layers at their conditional means instead of "
                        "drawing them: smoother results that show less of the model's spread (default: draw them, "
                        "so each result is a full sample of the model)")
    return p


def _write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    write_with(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def _body(argv: Sequence[str] | None) -> int:
    args = parse(build_parser(), argv)
    if args.n < 1:
        raise CliError("--n must be at least 1")
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
        out = check_output_file(args.out, "--out")
        pairs = load_pairs(args.pairs, require_test=True)
        predictor = load_model(args.model)
        check_channels(pairs, predictor.config)
        index = np.flatnonzero(pairs.split == TEST)
        samples = predictor.sample_batch(pairs.xc[index], args.n, args.seed)  # (N_test, N, Cg, 32, 32)
        _write_npz(out, {"samples": samples, "index": index.astype(np.int64)})
        print(f"wrote {samples.shape[0]} x {args.n} samples to {out}", file=sys.stderr)
        return 0

    if args.out is not None:
        raise CliError("--out goes with --pairs; with --image use --export DIR")
    if args.export is None or not args.export.strip():
        raise CliError("--image needs --export DIR (the folder for the results)")
    if Path(args.export).exists() and not Path(args.export).is_dir():
        # checked up front: it used to fail only at the first write, naming "FILE/stem_000.png"
        raise CliError(f"--export {args.export} is a file, not a folder")
    from ..postprocess import ExportSettings, export_results
    from ..predictor import MAX_TEMPERATURE

    temperature = 1.0 if args.temperature is None else args.temperature
    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise CliError(f"--temperature must lie in [0, {MAX_TEMPERATURE}], got {temperature}")
    predictor = load_model(args.model)
    written = export_results(predictor, args.image, args.n, args.export, seed=args.seed, fmt=args.format or "png",
                             settings=ExportSettings(temperature=temperature, lower_layers=not args.lower_means))
    print(f"wrote {len(written)} result(s) to {args.export}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: _body(argv))


if __name__ == "__main__":
    raise SystemExit(main())
