"""``cdvae-eval``: the paper's table (best error at N samples, variance, NLL) on a test split.

    cdvae-eval --model runs/mdn4 --pairs pairs.npz --samples 3,10,30,60,100 --json mdn4.json
    cdvae-eval --nearest-neighbour --pairs pairs.npz --json nn.json

The JSON holds ``best_error`` ({"3": value, ...}), ``variance`` (16 grid points, 100 samples or
the largest N when that is more), ``nll`` (importance-weighted -log p(x_c, x_g) in nats per pair;
null for the CVAE and the nearest neighbour) and what was evaluated. ``--distinct [POOL]`` adds
``best_error_distinct`` ({"3": value, ...}: the best error among the N most distinct of POOL
samples, cdvae_core.distinct) and ``distinct_pool``, and a table row of its own.

While it scores, a tqdm bar per stage (sampling, NLL) counts test pairs on stderr when stderr is
a terminal; ``--quiet``, pipes and log files get none. stdout (the table) and the JSON are the same.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import write_text_atomic
from ..config import read_small_text
from ..distinct import DISTINCT_POOL, MAX_POOL
from ..pairs import load_pairs
from .common import (PAPER_SAMPLES, CliError, Parser, add_conditional, check_draws, check_output_file, check_pairs_fit,
                     check_seed, method_name, model_inputs, model_samples, parse, parse_samples, progress_bar, run_main,
                     use_conditional)

PROG = "cdvae-eval"
VARIANCE_SAMPLES = 100  # DESIGN: variance at 16 grid points over 100 samples
NN_SIGMA = 1.0  # the nearest neighbour's default smoothing, pixels
NLL_K = 100  # importance samples per pair for the NLL


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Evaluate a saved model (or the nearest-neighbour baseline) on a test split.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="saved model directory")
    who.add_argument("--nearest-neighbour", action="store_true", help="the nearest-neighbour baseline")
    p.add_argument("--pairs", required=True, help="pair file with a test split (split == 1)")
    p.add_argument("--samples", default=",".join(map(str, PAPER_SAMPLES)), help="sample counts N (default 3,10,30,60,100)")
    p.add_argument("--json", help="write the figures to this JSON file (missing parent folders are created)")
    p.add_argument("--nll-k", type=int, help="with --model: importance samples per pair for the NLL "
                   f"(0 = skip; default {NLL_K})")
    p.add_argument("--max-pairs", type=int, help="evaluate only the first N test pairs")
    p.add_argument("--sigma", type=float, help=f"with --nearest-neighbour: Gaussian smoothing in pixels (default {NN_SIGMA:g})")
    p.add_argument("--name", help="row name in the table (default: Gauss, MDN4, CVAE, NN, ...)")
    p.add_argument("--seed", type=int, help="with --model: seed of the samples (default 0)")
    p.add_argument("--distinct", type=int, nargs="?", const=DISTINCT_POOL, default=None, metavar="POOL",
                   help=f"with --model: also the best error among the N most distinct of POOL samples (default "
                        f"{DISTINCT_POOL}) for each N, as cdvae-sample --distinct chooses them (pair i: seed + i); "
                        "a row of its own, not the paper's metric, which draws N samples")
    add_conditional(p, "with --model: draw the samples and score the NLL")
    p.add_argument("--quiet", action="store_true", help="no progress bar (none is shown when stderr is not a terminal)")
    return p


class Accumulator:
    """Pair-weighted means of best error (per N) and grid variance over chunks of test pairs."""

    def __init__(self, ns: list[int]) -> None:
        self.ns = ns
        self.pairs = 0
        self.best = {n: 0.0 for n in ns}
        self.variance = 0.0

    def add(self, samples: np.ndarray, truth: np.ndarray) -> None:
        """samples (b, N, Cg, 32, 32), truth (b, Cg, 32, 32)."""
        from ..metrics import best_error, grid_variance

        b = len(truth)
        for n, value in best_error(samples, truth, self.ns).items():
            self.best[n] += value * b
        self.variance += grid_variance(samples[:, :VARIANCE_SAMPLES]) * b
        self.pairs += b

    def result(self) -> dict:
        return {"best_error": {str(n): v / self.pairs for n, v in self.best.items()},
                "variance": self.variance / self.pairs}


def evaluate_nll(model, xc: np.ndarray, xg: np.ndarray, k: int, seed: int, on_pairs=None) -> float:
    """Mean importance-weighted -log p(x_c, x_g) over the pairs, in nats per pair;
    ``on_pairs(count)`` is called after each chunk (the progress bar)."""
    import torch

    gen = torch.Generator().manual_seed(int(seed) + 1)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(xc), 64):
            a = torch.from_numpy(np.ascontiguousarray(xc[start : start + 64]))
            b = torch.from_numpy(np.ascontiguousarray(xg[start : start + 64]))
            total += float(model.nll(a, b, k=k, generator=gen).double().sum())
            if on_pairs is not None:
                on_pairs(len(a))
    return total / len(xc)


def distinct_best_errors(predictor, xc: np.ndarray, xg: np.ndarray, ns: list[int], pool: int, seed: int,
                         on_pair=None) -> dict[int, float]:
    """Mean over the pairs xc (B, Cc, 32, 32), xg (B, Cg, 32, 32) of the best error among the N
    most distinct of ``pool`` samples, for each N in ``ns`` (pair i drawn with seed + i, as
    ``cdvae-sample --pairs --distinct`` draws it); ``on_pair()`` after each pair."""
    from ..distinct import distinct_indices, pool_samples
    from ..metrics import best_error

    total = {n: 0.0 for n in ns}
    for i, (x, truth) in enumerate(zip(xc, xg)):
        cond = predictor.prepare(x)
        _, _, samples = pool_samples(predictor, cond, pool, seed + i)  # (pool, Cg, 32, 32)
        for n in ns:
            rows, _ = distinct_indices(samples, n, seed + i)
            total[n] += best_error(samples[rows][None], truth[None], [len(rows)])[len(rows)]
        if on_pair is not None:
            on_pair(1)
    return {n: value / len(xc) for n, value in total.items()}


def _is_eval_result(path: Path) -> bool:
    """True when ``path`` holds a JSON object as cdvae-eval writes them (its "best_error")."""
    try:
        data = json.loads(read_small_text(path))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("best_error"), dict)


def _body(argv: Sequence[str] | None) -> int:
    args = parse(build_parser(), argv)
    ns = parse_samples(args.samples)
    out_json = None
    if args.json is not None:
        out_json = check_output_file(args.json, "--json", [("--pairs", args.pairs), *model_inputs(args.model)])
        if out_json.exists() and not _is_eval_result(out_json):  # any file was replaced, a pair file too
            raise CliError(f"--json {out_json} exists and is no cdvae-eval result: name a new file "
                           "(an earlier result is replaced)")
    if args.nearest_neighbour:
        # the baseline draws nothing and has no likelihood: a seed or NLL setting would be ignored
        for flag, value in (("--seed", args.seed), ("--nll-k", args.nll_k), ("--conditional", args.conditional)):
            if value is not None:
                raise CliError(f"{flag} goes with --model; the nearest neighbour is deterministic and has no likelihood")
    args.seed = 0 if args.seed is None else args.seed
    check_seed(args.seed)
    args.nll_k = NLL_K if args.nll_k is None else args.nll_k
    check_draws("--nll-k", args.nll_k, least=0)
    if args.model is not None and args.sigma is not None:
        raise CliError("--sigma goes with --nearest-neighbour; a --model is evaluated as trained")
    if args.distinct is not None:
        if args.nearest_neighbour:
            raise CliError("--distinct goes with --model; the nearest neighbour's samples are its ranked neighbours")
        if args.distinct < max(ns):
            raise CliError(f"--distinct {args.distinct}: the pool must hold at least the largest N ({max(ns)})")
        if args.distinct > MAX_POOL:
            raise CliError(f"--distinct {args.distinct}: at most {MAX_POOL} draws are clustered")
    pairs = load_pairs(args.pairs, require_test=True)
    test = pairs.test()
    if args.max_pairs is not None:
        if args.max_pairs < 1:
            raise CliError("--max-pairs must be at least 1")
        test = test.subset(np.arange(min(args.max_pairs, len(test))))
    n_draw = max(max(ns), VARIANCE_SAMPLES)
    acc = Accumulator(ns)
    nll = None
    conditional = None  # the p(z_g | z_c) the samples were drawn from (models with a tie)
    if args.nearest_neighbour:
        from ..nearest import NearestNeighbour

        train = pairs.train()
        if len(train) < max(ns):
            raise CliError(f"the nearest neighbour needs {max(ns)} training pairs for {max(ns)} samples, the file has "
                           f"{len(train)}")
        baseline = NearestNeighbour.fit(train.xc, train.xg, sigma=NN_SIGMA if args.sigma is None else args.sigma)
        if len(train) < n_draw:  # its i-th sample is the i-th neighbour: as many as there are training pairs
            n_draw = len(train)
            print(f"cdvae-eval: note: the variance is over {n_draw} samples, one per training pair "
                  f"({VARIANCE_SAMPLES} in the paper's table)", file=sys.stderr)
        with progress_bar(len(test), "scoring", "pair", args.quiet) as bar:
            for start in range(0, len(test), 64):
                acc.add(baseline.sample(test.xc[start : start + 64], n_draw), test.xg[start : start + 64])
                bar.update(len(test.xc[start : start + 64]))
        name = args.name or "NN"
    else:
        from ..checkpoint import load_model

        predictor = load_model(args.model)
        check_pairs_fit(pairs, predictor.config)
        use_conditional(predictor, args.conditional)
        model = predictor.model
        with progress_bar(len(test), "scoring", "pair", args.quiet) as bar:
            for start, samples in model_samples(model, test.xc, n_draw, args.seed):
                acc.add(samples, test.xg[start : start + len(samples)])
                bar.update(len(samples))
        if args.distinct is not None:
            with progress_bar(len(test), "distinct", "pair", args.quiet) as bar:
                distinct = distinct_best_errors(predictor, test.xc, test.xg, ns, args.distinct, args.seed,
                                                on_pair=bar.update)
        if predictor.supports_nll and args.nll_k > 0:
            with progress_bar(len(test), "NLL", "pair", args.quiet) as bar:
                nll = evaluate_nll(model, test.xc, test.xg, args.nll_k, args.seed, on_pairs=bar.update)
        name = args.name or method_name(predictor.config) + (f" {args.conditional}" if args.conditional else "")
        if predictor.has_tie:
            conditional = predictor.config.tie_conditional
    distinct_row = {}
    if args.distinct is not None:
        distinct_row = {"distinct_pool": args.distinct, "best_error_distinct": {str(n): v for n, v in distinct.items()}}
    result = {"method": name, "model": args.model, "pairs": str(args.pairs), "test_pairs": len(test),
              # the baseline draws nothing (deterministic): no seed was used, so none is claimed
              "samples": ns, "samples_drawn": n_draw, "seed": None if args.nearest_neighbour else args.seed,
              **acc.result(), "nll": nll,
              "nll_k": args.nll_k if nll is not None else None, "conditional": conditional, **distinct_row}
    from ..metrics import paper_table

    rows = {name: result}
    if distinct_row:  # best errors only: variance and NLL describe the model's own N draws
        rows[f"{name} distinct/{args.distinct}"] = {"best_error": distinct_row["best_error_distinct"]}
    print(paper_table(rows, ns))
    if out_json is not None:
        write_text_atomic(out_json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {out_json}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: _body(argv))


if __name__ == "__main__":
    raise SystemExit(main())
