"""The experiment runner: per task, pairs -> five trained models -> six scored rows; then the
known-mode synthetic benchmark. A generator of Progress records that returns the results dict.

Results (also written as docs/results.json):
  {"mode", "settings", "started", "wall_seconds", "machine",
   "tasks": {task: {"data": {...}, "rows": {row: eval JSON}, "train_seconds": {row: s},
                    "models": {row: dir}, "eval_seconds": s}},
   "synthetic": {"data": {...}, "reference_error": float, "rows": {row: scores}, "train_seconds": {...}}}
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

import torch

from ..checkpoint import CONFIG_FILE, EMBEDDING_FILE, METRICS_FILE, STATE_FILE, WEIGHTS_FILE, StateLoadError
from ..atomic import write_text_atomic
from ..config import ModelConfig, TrainConfig, dumps, is_number
from ..data.prepare import SourceSpec
from ..pairs import PairSet
from ..progress import Progress
from ..train_dir import SAMPLING_ONLY, OutputDirError, ResumeMismatchError
from ..train_targets import refresh_tie_drift
from ..training import TrainingError, train
from . import evaluation as ev
from .data import data_summary, synthetic_pairs, task_pairs
from .suite import TRAINED, SuiteSettings, model_config


RUNTIME_ONLY = ("num_threads", "device")  # training settings that do not change what is learned


def _json_equal(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _learning(training: dict | None) -> dict:
    return {k: v for k, v in (training or {}).items() if k not in RUNTIME_ONLY}


def _trained(model: dict) -> dict:
    """The model settings training reads (not the sampling conditional)."""
    return {k: v for k, v in model.items() if k not in SAMPLING_ONLY}


def _sample_as(out: Path, model_cfg: ModelConfig, pairs: PairSet) -> None:
    """Give a reused run the sampling settings asked for (its weights do not depend on them), and
    its embedding the tie drift of its training pairs under them (the Studio's drift limit)."""
    config = json.loads((out / CONFIG_FILE).read_text("utf-8"))
    wanted = {name: getattr(model_cfg, name) for name in SAMPLING_ONLY}
    if any(config["model"].get(name) != value for name, value in wanted.items()):
        config["model"].update(wanted)
        write_text_atomic(out / CONFIG_FILE, dumps(config) + "\n")
        refresh_tie_drift(out, pairs)


def finished_run(out: Path, model_cfg: ModelConfig, train_cfg: TrainConfig) -> bool:
    """True when ``out`` already holds this exact model trained for every epoch (reused, not retrained)."""
    try:
        config = json.loads((out / CONFIG_FILE).read_text("utf-8"))
        rows = _metric_rows(out)
    except (OSError, ValueError):
        return False
    try:  # through the config class: a setting added since that run counts at its default
        saved_model = _trained(ModelConfig.from_dict(config.get("model") or {}).to_dict())
    except (ValueError, TypeError):
        return False
    return (_json_equal(saved_model, _trained(model_cfg.to_dict())) and _json_equal(_learning(config.get("training")), _learning(train_cfg.to_dict()))
            and len(rows) >= train_cfg.epochs and (out / WEIGHTS_FILE).exists() and (out / EMBEDDING_FILE).exists())


def resumable_run(out: Path, model_cfg: ModelConfig, train_cfg: TrainConfig) -> bool:
    """True when ``out`` holds a training checkpoint of this exact model and these settings (a run
    killed mid-way): training continues from its last finished epoch instead of starting again."""
    try:
        config = json.loads((out / CONFIG_FILE).read_text("utf-8"))
        saved_model = _trained(ModelConfig.from_dict(config.get("model") or {}).to_dict())
    except (OSError, ValueError, TypeError):
        return False
    return ((out / STATE_FILE).is_file() and _json_equal(saved_model, _trained(model_cfg.to_dict()))
            and _json_equal(_learning(config.get("training")), _learning(train_cfg.to_dict())))


def _metric_rows(out: Path) -> list[dict]:
    """The epoch rows of ``out``'s metrics.jsonl; a line that is not a JSON object (cut, edited)
    is left out, so the run counts as finished only if every epoch's row is readable."""
    rows = []
    for line in (out / METRICS_FILE).read_text("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _loop_seconds(out: Path) -> float:
    """The training loop time of every epoch in ``out``'s metrics (a resumed run's earlier epochs
    too); a row without a finite number of seconds adds nothing."""
    seconds = [row.get("seconds") for row in _metric_rows(out)]
    return float(sum(s for s in seconds if is_number(s)))


def _rows_progress(gen: Iterator[Progress], task: str, row: str) -> Iterator[Progress]:
    for pr in gen:
        if pr.stage in ("train", "epoch"):
            yield Progress("train", pr.done, pr.total, f"{task} {row}: {pr.message}", pr.values)


def train_row(pairs: PairSet, row: str, task: str, train_cfg: TrainConfig, out: Path) -> Iterator[Progress]:
    """Train one row's model into ``out`` (reusing a finished identical run, resuming a killed
    one from its last epoch); returns the seconds spent."""
    model_cfg = model_config(row, task, pairs.channels)
    if finished_run(out, model_cfg, train_cfg):
        yield Progress("train", 1, 1, f"{task} {row}: reusing the finished run in {out}")
        _sample_as(out, model_cfg, pairs)
        return _loop_seconds(out)  # the original run's training loop time
    if resumable_run(out, model_cfg, train_cfg):
        yield Progress("train", 0, 1, f"{task} {row}: resuming the interrupted run in {out}")
        try:
            yield from _rows_progress(train(pairs, model_cfg, train_cfg, out, resume=True), task, row)
            _sample_as(out, model_cfg, pairs)  # training resumed with the run's own
            return _loop_seconds(out)  # every epoch's loop, as for a reused run
        except (StateLoadError, ResumeMismatchError, OutputDirError) as exc:  # raised before any training
            yield Progress("train", 0, 1, f"{task} {row}: cannot resume ({exc}); starting again")
    if out.exists():
        shutil.rmtree(out)  # a different or damaged run: start clean
    t0 = time.perf_counter()
    yield from _rows_progress(train(pairs, model_cfg, train_cfg, out), task, row)
    return time.perf_counter() - t0


def _guarded(gen: Iterator[Progress], result: dict, row: str) -> Iterator[Progress]:
    """Run a training generator; a diverged run is recorded in result["failed"] (its last good
    checkpoint, if any, is still scored) instead of stopping the whole command."""
    t0 = time.perf_counter()
    try:
        return (yield from gen)
    except TrainingError as exc:
        result["failed"][row] = str(exc)
        yield Progress("train", 1, 1, f"{row}: FAILED, {exc}")
        return time.perf_counter() - t0


def _task(task: str, spec: SourceSpec, settings: SuiteSettings, work: Path) -> Iterator[Progress]:
    pairs = yield from task_pairs(work, task, spec, settings)
    train_split, test_split = pairs.train(), pairs.test()
    result: dict = {"data": data_summary(pairs), "rows": {}, "train_seconds": {}, "models": {}, "failed": {}}
    # the run's "train_config", or a task's own guidance for its ladders (report.guidance_note)
    result["train_config"] = settings.train_config(task=task).to_dict()
    for row in TRAINED:
        out = work / "models" / task / row.lower()
        train_cfg = settings.train_config(task=task, layers=model_config(row, task, pairs.channels).layers)
        seconds = yield from _guarded(train_row(pairs, row, task, train_cfg, out), result, row)
        result["train_seconds"][row] = seconds
        if (out / WEIGHTS_FILE).exists():
            result["models"][row] = str(out)
    yield Progress("evaluate", 0, len(TRAINED) + 1, f"{task}: scoring NN")
    t0 = time.perf_counter()
    result["rows"]["NN"] = ev.evaluate_nearest(train_split, test_split, settings)
    for i, row in enumerate(r for r in TRAINED if r in result["models"]):
        yield Progress("evaluate", i + 1, len(TRAINED) + 1, f"{task}: scoring {row}")
        result["rows"][row] = ev.evaluate_model(Path(result["models"][row]), test_split, settings)
    result["eval_seconds"] = time.perf_counter() - t0
    return result


def _synthetic(settings: SuiteSettings, work: Path) -> Iterator[Progress]:
    pairs = synthetic_pairs(settings)
    train_split, test_split = pairs.train(), pairs.test()
    result: dict = {"data": {**data_summary(pairs), "modes": pairs.meta["modes"], "classes": pairs.meta["classes"],
                             "detail": pairs.meta["detail"], "noise": pairs.meta["noise"]},
                    "rows": {}, "train_seconds": {}, "failed": {}}
    train_cfg = settings.train_config(settings.synthetic_epochs)
    result["reference_error"] = ev.synthetic_reference(test_split, settings)
    result["rows"]["NN"] = ev.synthetic_nearest(train_split, test_split, settings)
    for row in TRAINED:
        out = work / "models" / "synthetic" / row.lower()
        result["train_seconds"][row] = yield from _guarded(train_row(pairs, row, "synthetic", train_cfg, out),
                                                           result, row)
        if not (out / WEIGHTS_FILE).exists():
            continue
        yield Progress("evaluate", 0, 1, f"synthetic: scoring {row}")
        result["rows"][row] = ev.synthetic_model(out, test_split, settings)
    return result


def machine() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def run_suite(settings: SuiteSettings, tasks: list[str], work: str | Path,
              sources: Mapping[str, SourceSpec] | None = None, synthetic: bool = True) -> Iterator[Progress]:
    """Run every task in ``tasks`` and the synthetic benchmark; returns the results dict (module doc).

    ``sources`` maps a task to its data source (default "builtin" for each).
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict = {"mode": settings.mode, "settings": settings.to_dict(), "tasks": {},
                     "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                     "train_config": settings.train_config().to_dict()}
    for task in tasks:
        spec = (sources or {}).get(task, "builtin")
        task_t0 = time.perf_counter()
        results["tasks"][task] = yield from _task(task, spec, settings, work)
        results["tasks"][task]["seconds"] = time.perf_counter() - task_t0
        results["tasks"][task]["source_spec"] = str(spec)
    if synthetic:
        syn_t0 = time.perf_counter()
        results["synthetic"] = yield from _synthetic(settings, work)
        results["synthetic"]["seconds"] = time.perf_counter() - syn_t0
    results["wall_seconds"] = time.perf_counter() - t0
    return results
