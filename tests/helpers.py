"""Constants and small builders shared by the core test modules (fixtures live in conftest.py)."""

import os
from typing import Any, Callable, Iterator

# The smallest model sizes that still exercise every layer: ModelConfig keyword arguments, also
# written as the "model" part of a --config JSON file.
TINY = dict(latent_sizes=(8, 4), hidden_sizes=(32, 16), conv_channels=(4, 8, 8), mdn_hidden=16, cvae_latent=4)


def motion_predictor(**kw):
    """(config, Predictor, Condition): an untrained motion-shaped model (3 x_c channels, 2 x_g)
    built from ModelConfig keyword arguments, seeded, and one random x_c prepared for it."""
    import numpy as np
    import torch

    from cdvae_core.config import ModelConfig
    from cdvae_core.model import build_model
    from cdvae_core.predictor import Predictor

    torch.manual_seed(0)
    cfg = ModelConfig(channels_c=3, channels_g=2, **kw)
    pred = Predictor(build_model(cfg), task="motion")
    return cfg, pred, pred.prepare(np.random.rand(3, 32, 32).astype(np.float32))


class Terminal:
    """A stand-in for an interactive stderr (monkeypatch ``sys.stderr``): text collected in
    ``buffer``, isatty() True, so the commands draw their progress bars."""

    def __init__(self) -> None:
        import io

        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


DELETE = "<delete>"  # edited_json's value that removes the key


def edited_json(doc: dict, path: tuple, value) -> dict:
    """A deep copy of JSON object ``doc`` with the key at ``path`` (keys into nested objects) set
    to ``value``, or removed for DELETE: a file edited by hand, for bad-input tests."""
    import copy

    edited = copy.deepcopy(doc)
    node = edited
    for key in path[:-1]:
        node = node[key]
    if value == DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return edited


# Files edited key by key or array by array, for the bad-input tests (tests/test_edited_files.py and
# the Studio's sessions and embeddings in tests/studio)
EDIT_VALUES = [DELETE, None, "x", -1, 0, 1e308, [], {}, True, float("nan"), 2**70]
SPREAD = 1 if os.environ.get("CDVAE_EDITS") == "all" else 9  # every SPREAD-th edit by default


def key_paths(doc: dict[str, Any], prefix: tuple = (), skip: Callable[[tuple], bool] = lambda path: False
              ) -> Iterator[tuple]:
    """Every key of a JSON object as a path: keys of nested objects, and of the first object in a
    list of objects (a COCO file's first image), included; paths for which ``skip`` is true and
    everything under them left out."""
    for key, value in doc.items():
        path = prefix + (key,)
        if skip(path):
            continue
        yield path
        if isinstance(value, dict):
            yield from key_paths(value, path, skip)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield path + (0,)
            yield from key_paths(value[0], path + (0,), skip)


def edits(doc: dict[str, Any], paths: list[tuple] | None = None) -> list[tuple[tuple, Any, dict[str, Any]]]:
    """(path, value, edited copy) for every key (or every one of ``paths``) and value, every
    SPREAD-th of them."""
    paths = list(key_paths(doc)) if paths is None else paths
    return [(path, value, edited_json(doc, path, value)) for path in paths for value in EDIT_VALUES][::SPREAD]


def array_edits(arrays: dict) -> list[tuple[str, dict]]:
    """("key:damage", edited copy of ``arrays``) for every array of a safetensors file (an
    embedding) and every damage that fits it: deleted, no rows, NaN, inf, huge, another dtype,
    flattened, no columns, one column, an extra axis, twice as wide (floats); negative, huge,
    fractional, bool or uint8 (integers); every SPREAD-th of them."""
    import numpy as np

    def damages(arr):
        out = {"delete": None, "rows0": arr[:0]}
        if arr.dtype.kind == "f":
            out |= {"nan": np.full_like(arr, np.nan), "inf": np.full_like(arr, np.inf),
                    "huge": np.full_like(arr, np.finfo(arr.dtype).max / 2), "int": arr.astype(np.int64),
                    "f16": arr.astype(np.float16), "f64": arr.astype(np.float64)}
        else:
            out |= {"neg": np.full_like(arr, -5), "huge": np.full_like(arr, np.iinfo(arr.dtype).max),
                    "float": arr.astype(np.float32) + 0.5, "bool": arr.astype(bool), "u8": arr.astype(np.uint8)}
        if arr.ndim >= 2:
            out |= {"flat": arr.reshape(len(arr), -1)[:, 0], "cols0": arr[:, :0], "cols1": arr[:, :1],
                    "extra": arr[..., None], "wide": np.concatenate([arr, arr], axis=1)}
        else:
            out |= {"2d": np.stack([arr, arr], 1)}
        return out

    cases = []
    for key, arr in arrays.items():
        for name, value in damages(arr).items():
            edited = {k: v for k, v in arrays.items() if k != key}
            if value is not None:
                edited[key] = np.ascontiguousarray(value)
            cases.append((f"{key}:{name}", edited))
    return cases[::SPREAD]


def endless_job(marker: str):
    """A background job that never ends by itself (worker tests): it writes ``marker`` + ".started"
    once running, and closing it writes ``marker``, as a training run's finally keeps its checkpoint."""
    import time
    from pathlib import Path

    Path(marker + ".started").write_text("running")
    try:
        while True:
            time.sleep(0.05)
            yield None
    finally:
        Path(marker).write_text("closed")
