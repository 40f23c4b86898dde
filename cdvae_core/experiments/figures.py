"""The paper's Figure 4 (best error against N; best error against variance) and a Figure 5-style
picture (input, ground truth and samples of every method at full resolution after post-processing).

Plots use matplotlib's object API with the Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from scipy.ndimage import gaussian_filter

from ..atomic import write_with
from ..checkpoint import load_model
from ..nearest import NearestNeighbour
from ..pairs import PairSet
from ..postprocess import get_renderer
from .evaluation import NN_SIGMA
from .examples import Example, builtin_examples
from .suite import ROWS, SuiteSettings

COLOURS = {"NN": "#7f7f7f", "CVAE": "#8c564b", "Shallow": "#ff7f0e", "Gauss": "#1f77b4", "MDN4": "#2ca02c",
           "MDN12": "#d62728"}
TILE_INCHES = 1.45


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, dpi: int = 100) -> None:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"), suffix=".png")


def figure4(results: Mapping, path: str | Path) -> Path:
    """One column per task: best error (x 10^-2) against N (top) and against variance at the
    largest N (bottom, the paper's Figure 4 axes); one line / marker per method."""
    tasks = list(results["tasks"])
    fig = _figure(4.2 * max(1, len(tasks)), 7.2)
    axes = fig.subplots(2, max(1, len(tasks)), squeeze=False)
    for col, task in enumerate(tasks):
        rows = results["tasks"][task]["rows"]
        top, bottom = axes[0][col], axes[1][col]
        for name in [r for r in ROWS if r in rows]:
            best = {int(k): v for k, v in rows[name]["best_error"].items()}
            ns = sorted(best)
            top.plot(ns, [best[n] * 100 for n in ns], marker="o", ms=3, label=name, color=COLOURS.get(name))
            bottom.scatter([rows[name]["variance"] * 100], [best[ns[-1]] * 100], color=COLOURS.get(name), label=name)
            bottom.annotate(name, (rows[name]["variance"] * 100, best[ns[-1]] * 100), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        top.set_xscale("log")
        top.set_title(task)
        top.set_xlabel("number of samples N")
        top.set_ylabel("best error to ground truth (x 10^-2)")
        top.grid(alpha=0.3)
        bottom.set_xlabel("variance at 16 grid points (x 10^-2)")
        bottom.set_ylabel(f"best error at N = {ns[-1]} (x 10^-2)")
        bottom.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Figure 4 ({results['mode']} mode): lower is better (top, bottom); right is more diverse (bottom)")
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path


def _layer_image(layer: np.ndarray) -> np.ndarray:
    """A full-resolution x_c layer (Cc, H, W) in [0, 1] as uint8 RGB for display."""
    arr = np.clip(np.asarray(layer, np.float32), 0, 1)
    arr = np.repeat(arr, 3, 0) if arr.shape[0] == 1 else arr[:3]
    return (arr.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


def _render(renderer, task: str, samples: np.ndarray, own: np.ndarray | None) -> list[np.ndarray]:
    """Post-processed uint8 (H, W, 3) images of samples (n, Cg, 32, 32); motion arrows every ~1/12 frame."""
    if task != "motion":
        return renderer.render(samples, own)
    step = max(8, max(renderer.image.shape[:2]) // 12)
    return [renderer.arrows_over_frame(layer, step=step) for layer in renderer.layers(samples)]


def _method_samples(task: str, example: Example, renderer, models: Mapping[str, Path], nn: NearestNeighbour,
                    n: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Rendered samples per row: uint8 (H, W, 3) images, n per method."""
    xc = renderer.xc_model if task != "motion" else example.xc  # (Cc, 32, 32)
    xg_true = renderer.xg_model if task != "motion" else example.xg
    out: dict[str, list[np.ndarray]] = {}
    own_nn = gaussian_filter(xg_true, sigma=(0, NN_SIGMA, NN_SIGMA))  # NN's "own" x_g: the truth, smoothed like its samples
    out["NN"] = _render(renderer, task, nn.sample(xc[None], n)[0], own_nn)
    for row, model_dir in models.items():
        predictor = load_model(model_dir)
        cond = predictor.prepare(xc)
        samples = predictor.sample(cond, n, seed)  # (n, Cg, 32, 32)
        own = None
        if task != "motion":  # eq. 10: decode the photo's own code for the detail map
            own = predictor.decode(cond, predictor.encode_target(cond, xg_true)[None])[0]
        out[row] = _render(renderer, task, samples, own)
    return out


def figure5(task: str, pairs: PairSet, models: Mapping[str, Path], settings: SuiteSettings, path: str | Path) -> Path | None:
    """Input, ground truth and ``settings.figure_samples`` samples of each row for a few test
    images of a built-in pair file. Returns the path, or None when no full-resolution test image
    can be recovered (pair files from other sources)."""
    examples = builtin_examples(pairs, settings.figure_images)
    if not examples:
        return None
    train = pairs.train()
    nn = NearestNeighbour.fit(train.xc, train.xg, sigma=NN_SIGMA)
    n = settings.figure_samples
    columns = ["input x_c", "ground truth", *[r for r in ROWS if r == "NN" or r in models]]
    fig = _figure(TILE_INCHES * len(columns), TILE_INCHES * len(examples) * n + 0.6)
    axes = fig.subplots(len(examples) * n, len(columns), squeeze=False)
    for e, example in enumerate(examples):
        renderer = get_renderer(task, example.image)
        samples = _method_samples(task, example, renderer, models, nn, n, settings.seed)
        truth = example.image if task != "motion" else _render(renderer, task, example.xg[None], None)[0]
        for s in range(n):
            r = e * n + s
            tiles = [_layer_image(renderer.xc_full) if s == 0 else None, truth if s == 0 else None]
            tiles += [samples[name][s] for name in columns[2:]]
            for c, tile in enumerate(tiles):
                ax = axes[r][c]
                ax.set_axis_off()
                if tile is not None:
                    ax.imshow(tile, interpolation="lanczos")
                if r == 0:
                    ax.set_title(columns[c], fontsize=8)
            axes[r][0].text(-0.05, 0.5, f"{example.name}\nsample {s + 1}", transform=axes[r][0].transAxes,
                            fontsize=6, ha="right", va="center")
    fig.suptitle(f"{task}: test images, {n} samples per method (seed {settings.seed}), post-processed "
                 "(edge-aware upsampling" + (", detail map)" if task != "motion" else ", arrows)"), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    _save(fig, path, dpi=80)
    return path
