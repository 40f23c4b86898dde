"""``--install-builtin DIR``: ship the Gauss and MDN4 models of each task as small model dirs.

DIR/<task>/<gauss|mdn4>/ holds config.json, weights.safetensors in float16 (loading copies them
into the float32 model, so they are upcast), metrics.jsonl, a trimmed embedding.safetensors
(at most 1,500 scatter points, fewer when the thumbnails would push the dir over its size
budget) and reference_samples.safetensors: ``xc`` (M, Cc, 32, 32) test inputs and ``samples``
(M, n, Cg, 32, 32) drawn from the installed (float16) weights with ``Predictor.sample_batch``
and seed 0, which tests/test_builtin_models.py reproduces. DIR/README.md says how they were made.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..atomic import write_text_atomic, write_with
from ..checkpoint import CONFIG_FILE, EMBEDDING_FILE, METRICS_FILE, WEIGHTS_FILE, load_embedding_arrays, load_model
from ..pairs import PairSet
from .report import motion_pairs_note
from .suite import INSTALLED

REFERENCE_FILE = "reference_samples.safetensors"
REFERENCE_SEED = 0
REFERENCE_PAIRS = 3  # test inputs in the reference set
REFERENCE_SAMPLES = 4  # samples per input
MAX_POINTS = 1500  # scatter points kept
MIN_POINTS = 64  # never fewer, even if that breaks the size budget (the README says so)


class InstallError(ValueError):
    """A model directory that cannot be installed, with a one-line reason."""


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    data = {k: v.contiguous() for k, v in tensors.items()}
    write_with(path, lambda tmp: save_file(data, str(tmp), metadata=metadata), suffix=".safetensors")


def _half_weights(src: Path, dst: Path) -> int:
    """Float tensors to float16 (integer buffers as they are); returns bytes written."""
    state = load_file(str(src / WEIGHTS_FILE))
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    _save_tensors(dst / WEIGHTS_FILE, half)
    return (dst / WEIGHTS_FILE).stat().st_size


def _trim_embedding(src: Path, dst: Path, budget: int, seed: int) -> int:
    """Keep at most MAX_POINTS rows (seeded, both splits) within ``budget`` bytes; returns rows kept."""
    arrays = load_embedding_arrays(src)
    if arrays is None:
        return 0
    n = len(arrays["split"])
    lean = {"lpp_c": np.float16, "codes_c": np.float16, "codes_g": np.float16, "labels": np.int32, "index": np.int32,
            "split": np.int8, "xc_thumbs": np.float16}  # the loader casts every one back to its working dtype
    per_row = sum(np.dtype(lean.get(k, v.dtype)).itemsize * int(np.prod(v.shape[1:]))
                  for k, v in arrays.items() if not k.startswith("lpp."))
    fixed = sum(v.nbytes for k, v in arrays.items() if k.startswith("lpp.")) + 4096
    rows = int(np.clip((budget - fixed) // max(per_row, 1), MIN_POINTS, MAX_POINTS))
    keep = np.arange(n)
    if n > rows:
        keep = np.sort(np.random.default_rng([seed, 11]).choice(n, rows, replace=False))
    out = {}
    for key, value in arrays.items():
        value = value if key.startswith("lpp.") else value[keep].astype(lean.get(key, value.dtype))
        out[key] = torch.from_numpy(np.ascontiguousarray(value))
    _save_tensors(dst / EMBEDDING_FILE, out)
    return len(keep)


def _reference(dst: Path, test: PairSet) -> None:
    """Samples of the installed model for the first test inputs, seed REFERENCE_SEED."""
    predictor = load_model(dst)
    xc = np.ascontiguousarray(test.xc[:REFERENCE_PAIRS])
    samples = predictor.sample_batch(xc, REFERENCE_SAMPLES, REFERENCE_SEED)  # (M, n, Cg, 32, 32)
    _save_tensors(dst / REFERENCE_FILE, {"xc": torch.from_numpy(xc), "samples": torch.from_numpy(samples)},
                  {"seed": str(REFERENCE_SEED), "n": str(REFERENCE_SAMPLES), "function": "cdvae_core.predictor.Predictor.sample_batch"})


def install_model(src: Path, dst: Path, test: PairSet, max_bytes: int, seed: int) -> dict:
    """Copy one trained model dir into ``dst`` (replaced as a whole); returns what was written."""
    if not (src / CONFIG_FILE).is_file() or not (src / WEIGHTS_FILE).is_file():
        raise InstallError(f"{src} is not a finished model directory")
    tmp = dst.parent / f".{dst.name}.installing"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_text_atomic(tmp / CONFIG_FILE, (src / CONFIG_FILE).read_text("utf-8"))
    if (src / METRICS_FILE).exists():
        write_text_atomic(tmp / METRICS_FILE, (src / METRICS_FILE).read_text("utf-8"))
    weights = _half_weights(src, tmp)
    cfg = json.loads((src / CONFIG_FILE).read_text("utf-8"))["model"]
    reference = REFERENCE_PAIRS * (cfg["channels_c"] + REFERENCE_SAMPLES * cfg["channels_g"]) * 32 * 32 * 4
    points = _trim_embedding(src, tmp, max_bytes - weights - reference - 32 * 1024, seed)
    _reference(tmp, test)
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    size = sum(p.stat().st_size for p in dst.iterdir() if p.is_file())
    return {"dir": str(dst), "bytes": size, "points": points}


def readme(installed: Mapping[str, Mapping[str, dict]], results: Mapping, command: str) -> str:
    s = results["settings"]
    lines = ["# Built-in models", "",
             f"Made by `{command}` ({results['mode']} mode), started {results['started']}, "
             f"{results['wall_seconds'] / 60:.1f} min in all on {results['machine']['cpus']} CPU cores "
             f"(torch {results['machine']['torch']}).", "",
             f"Data: for each task, {s['pairs']} pairs{motion_pairs_note(s)} from its data source (below), seed {s['seed']}; "
             f"{s['epochs']} epochs, batch {s['batch_size']}. Weights are stored as float16 and upcast on "
             f"loading; `embedding.safetensors` keeps a seeded subset of the training points; "
             f"`{REFERENCE_FILE}` holds samples for seed {REFERENCE_SEED} that tests/test_builtin_models.py "
             "reproduces.", "", "| task | model | data | size | scatter points | best error N=100 (x 10^-2) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for task, models in installed.items():
        res = results["tasks"][task]
        d = res["data"]
        for row, info in models.items():
            best = {int(k): v for k, v in res["rows"][row]["best_error"].items()}
            lines.append(f"| {task} | {INSTALLED[row]} ({row}) | {d['source']}, {d['pairs']} pairs | "
                         f"{info['bytes'] / 1e6:.2f} MB | {info['points']} | {best[max(best)] * 100:.2f} |")
    lines += ["", "The built-in data are crops and synthetic clips of the photos listed with their licences in "
              "assets/images/LICENSES.md; half of motion's training clips are of procedural scenes "
              "(cdvae_core/data/procedural.py). Full results and their caveats: docs/results.md.", ""]
    return "\n".join(lines)


def install_builtin(results: Mapping, pairs: Mapping[str, PairSet], dest: str | Path, command: str,
                    max_mb: float = 5.0) -> dict[str, dict[str, dict]]:
    """Install the INSTALLED rows of every task in ``results`` into ``dest``; writes dest/README.md."""
    dest = Path(dest)
    installed: dict[str, dict[str, dict]] = {}
    for task, res in results["tasks"].items():
        installed[task] = {}
        for row, folder in INSTALLED.items():
            src = Path(res["models"][row])
            installed[task][row] = install_model(src, dest / task / folder, pairs[task].test(), int(max_mb * 1e6),
                                                 int(results["settings"]["seed"]))
    write_text_atomic(dest / "README.md", readme(installed, results, command))
    write_text_atomic(dest / "manifest.json", json.dumps(installed, indent=2) + "\n")
    return installed
