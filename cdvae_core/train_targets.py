"""Embedding-guidance targets for training and the saved embedding for the Studio's scatter plot.

The LPP is fitted on the training split only (features ``fc`` / ``fg`` of the pair file, or the
flattened pixels where the file has none) to the dimension of the top code, and applied to every
row so the saved embedding can show train and test points alike.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .config import ModelConfig, TrainConfig
from .pairs import PairSet

EMBEDDING_MAX_ROWS = 20_000  # cap on rows kept for the scatter plot (thumbnails grow with it)


def guidance_features(pairs: PairSet, side: str) -> tuple[np.ndarray, str]:
    """Features of one side, float32 (N, D), and their source ("fc", "fg" or "pixels")."""
    feats = pairs.fc if side == "c" else pairs.fg
    if feats is not None:
        return np.asarray(feats, np.float32), f"f{side}"
    layer = pairs.xc if side == "c" else pairs.xg
    return layer.reshape(len(layer), -1).astype(np.float32), "pixels"


def fit_side(pairs: PairSet, side: str, dim: int, train_cfg: TrainConfig):
    """Fit LPP on the train rows of one side; returns (lpp, coordinates of all N rows (N, dim), source)."""
    from .lpp import LPPError, fit_lpp

    feats, source = guidance_features(pairs, side)
    train_rows = np.flatnonzero(pairs.split == 0)
    # fit_lpp needs more than neighbours + 1 points: n - 2 is the most a small training split allows
    neighbours = max(1, min(train_cfg.lpp_neighbours, len(train_rows) - 2))
    try:
        lpp = fit_lpp(feats[train_rows], dim, neighbours, seed=train_cfg.seed)
    except LPPError as exc:  # say what was being fitted: the user never asked for an LPP by name
        what = f"'f{side}' features" if source != "pixels" else f"x_{side} pixels"
        # a few photos in a folder give a few pairs: say how many are needed, not only LPP's terms
        need = f"; it needs at least {dim + 2} training pairs" if len(train_rows) < dim + 2 else ""
        raise LPPError(f"cannot fit the embedding-guidance targets (LPP to the code's {dim} dimensions) on the "
                       f"{what} of {len(train_rows)} training pairs: {exc}{need}") from exc
    coords = np.asarray(lpp.transform(feats), np.float32)  # (N, dim)
    return lpp, coords, source


def compute_targets(
    pairs: PairSet, model_cfg: ModelConfig, train_cfg: TrainConfig, report: Callable[[str], None] = lambda m: None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Guidance targets and the projection, as tensors for the training checkpoint.

    Returns ``{"c": (N_train, D), "g": (N_train, D) (CDVAE with guidance only), "lpp_all": (N, D),
    "lpp.<name>": projection arrays}`` and ``{"lpp_source": ...}``.
    """
    dim = model_cfg.code_dim
    train_rows = np.flatnonzero(pairs.split == 0)
    report(f"fitting LPP of x_c on {len(train_rows)} training pairs")
    lpp_c, coords_c, source = fit_side(pairs, "c", dim, train_cfg)
    out = {"c": torch.from_numpy(coords_c[train_rows].copy()), "lpp_all": torch.from_numpy(coords_c)}
    for name, value in lpp_c.to_arrays(prefix="lpp.").items():
        out[name] = torch.from_numpy(value)
    if model_cfg.arch == "cdvae" and train_cfg.guidance_start > 0:
        report("fitting LPP of x_g")
        _, coords_g, _ = fit_side(pairs, "g", dim, train_cfg)
        out["g"] = torch.from_numpy(tie_consistent_targets(coords_c, coords_g, model_cfg.tied_dims, model_cfg.tie)[train_rows])
    return out, {"lpp_source": source}


def tie_consistent_targets(coords_c: np.ndarray, coords_g: np.ndarray, tied: int, tie: str) -> np.ndarray:
    """Guidance targets for z_g (N, D) that agree with a Gaussian tie.

    The Gaussian tie asks z_g^t = z_c^t, so guiding x_g's tied components to x_g's own LPP would
    pull them away from x_c's and fight the tie. They follow x_c's targets instead, and the untied
    components take the leading components of x_g's LPP: the structure x_c cannot explain is what
    the untied code is for. Other ties (MDN maps z_c to z_g freely) keep x_g's own LPP.
    """
    if tie != "gauss" or tied == 0:
        return coords_g.astype(np.float32).copy()
    out = np.empty_like(coords_g, dtype=np.float32)
    out[:, :tied] = coords_c[:, :tied]
    out[:, tied:] = coords_g[:, : coords_g.shape[1] - tied]
    return out


@torch.no_grad()
def _eval_in_batches(model: torch.nn.Module, fn, arrays: tuple[np.ndarray, ...], device: torch.device,
                     batch: int) -> list[np.ndarray]:
    """``fn(*chunks)`` over ``batch`` rows of ``arrays`` at a time, moved to ``device``, with the
    model in eval mode (its mode restored after): the float32 parts, in row order."""
    was_training = model.training
    model.eval()
    try:
        return [fn(*(torch.from_numpy(np.ascontiguousarray(a[i : i + batch])).to(device) for a in arrays))
                .float().cpu().numpy() for i in range(0, len(arrays[0]), batch)]
    finally:
        model.train(was_training)


def encode_codes(model: torch.nn.Module, x: np.ndarray, device: torch.device, side: str = "c",
                 batch: int = 256) -> np.ndarray:
    """Posterior-mean codes of x_c (``side`` "c") or x_g ("g") images (N, C, 32, 32) -> (N, D)
    float32, in eval mode."""
    encode = model.encode_code_c if side == "c" else model.encode_code_g
    parts = _eval_in_batches(model, encode, (x,), device, batch)
    return np.concatenate(parts, 0) if parts else np.zeros((0, 0), np.float32)


def codes_drift(model: torch.nn.Module, codes_c: np.ndarray, codes_g: np.ndarray, device: torch.device,
                batch: int = 4096) -> np.ndarray:
    """Each pair's tie drift (``CDVAE.code_drift``) of its x_g's code (N, D) from its x_c's code
    (N, D), under the conditional the model samples now: (N,) float32."""
    parts = _eval_in_batches(model, model.code_drift, (codes_c, codes_g), device, batch)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def refresh_tie_drift(model_dir, pairs: PairSet | None = None) -> bool:
    """Recompute ``embedding.safetensors``'s tie drift of a saved model under the conditional its
    config.json names now (after ``tie_conditional`` was changed; the drift was measured under the
    old one, and it sets the Studio's drift limit), from the embedding's x_g codes; an embedding
    saved before it kept them (``codes_g``) needs ``pairs``, the file the model was trained on (its
    ``index`` names the rows), and is given them. False when the embedding records no drift;
    ValueError when it has no codes_g and no pairs are given."""
    from .checkpoint import load_embedding_arrays, load_torch_model, write_embedding

    arrays = load_embedding_arrays(model_dir)
    if arrays is None or "tie_drift" not in arrays:
        return False
    model, _ = load_torch_model(model_dir)
    model.eval()
    cpu = torch.device("cpu")
    if "codes_g" not in arrays:
        if pairs is None:
            raise ValueError(f"{model_dir}: its embedding keeps no x_g codes; give the pair file it was trained on")
        codes_g = encode_codes(model, pairs.xg[arrays["index"].astype(np.int64)], cpu, "g")
        arrays["codes_g"] = codes_g.astype(arrays["codes_c"].dtype)
    drift = codes_drift(model, arrays["codes_c"].astype(np.float32), arrays["codes_g"].astype(np.float32), cpu)
    write_embedding(model_dir, {**arrays, "tie_drift": drift.astype(arrays["tie_drift"].dtype)})
    return True


def embedding_arrays(
    model: torch.nn.Module,
    pairs: PairSet,
    targets: dict[str, torch.Tensor],
    device: torch.device,
    seed: int,
    max_rows: int = EMBEDDING_MAX_ROWS,
) -> dict[str, np.ndarray]:
    """Arrays of ``embedding.safetensors`` (docs/architecture.md): at most ``max_rows`` rows,
    a seeded subsample when the pair file is larger; ``index`` gives their rows in the file."""
    n = len(pairs)
    rows = np.arange(n)
    if n > max_rows:
        rows = np.sort(np.random.default_rng([seed, 7]).choice(n, max_rows, replace=False))
    xc = np.ascontiguousarray(pairs.xc[rows])
    labels = pairs.meta.get("labels")
    if isinstance(labels, list) and len(labels) == n:
        label_arr = np.asarray(labels, np.int64)[rows]
    else:
        label_arr = np.full(len(rows), -1, np.int64)  # -1: no label known
    arrays = {
        "lpp_c": targets["lpp_all"].numpy()[rows].astype(np.float32),
        "split": pairs.split[rows].astype(np.int8),
        "labels": label_arr,
        "index": rows.astype(np.int64),
        "xc_thumbs": xc.astype(np.float16),
    }
    if getattr(model, "has_code_c", hasattr(model, "encode_code_c")):
        arrays["codes_c"] = encode_codes(model, xc, device)  # the CVAE has no code of x_c
        if model.cfg.tied_dims > 0:  # the Studio's drift badges compare samples with these
            # x_g's codes too: the drift under the other conditional, which the Studio can switch to
            arrays["codes_g"] = encode_codes(model, np.ascontiguousarray(pairs.xg[rows]), device, "g")
            arrays["tie_drift"] = codes_drift(model, arrays["codes_c"], arrays["codes_g"], device)
    for key, value in targets.items():
        if key.startswith("lpp."):
            arrays[key] = value.numpy()
    return arrays
