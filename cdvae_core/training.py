"""The trainer: a generator yielding Progress records; closing it stops after the last checkpoint.

``train(pairs, model_cfg, train_cfg, out_dir, resume=False)`` fits a model on the training split
of a pair set and keeps a saved-model directory (cdvae_core.checkpoint) up to date:
config.json and weights every epoch, metrics.jsonl one row per epoch, checkpoint/ for
``--resume``, embedding.safetensors at the end.

Reproducibility: weights are initialised after ``torch.manual_seed(seed)``; every epoch reseeds
torch from (seed, epoch, rank) and draws its data order from (seed, epoch), so a run resumed
from the checkpoint of epoch e repeats exactly what an unbroken run does after epoch e (on a
GPU too: cuDNN is switched to its deterministic kernels while training runs).

Guarded steps (as vdvae; rules and state in cdvae_core.skip_guard.SkipGuard): gradients are clipped
to norm ``grad_clip``; an update is skipped when the loss or the gradient norm is not finite or the
norm is above ``skip_threshold``, except that after ``spike_patience`` over-threshold skips in a row
the next clipped update is applied (the norms then come from the weights, which skipping cannot
change); ``max_skips`` skips in a row stop training with a TrainingError naming the step, the last
good checkpoint untouched. Runs unchanged under torchrun (DDP).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from torch.nn.parallel import DistributedDataParallel

from . import checkpoint as ckpt
from . import distributed as D
from .config import ModelConfig, TrainConfig
from .model import build_model
from .atomic import write_text_atomic
from .train_dir import (CLI_CONTROLS, Controls, OutputDirError, ResumeMismatchError, check_checkpoint_settings,
                        check_compatible, check_out_dir, check_resumable)
from .pairs import TEST, TRAIN, PairSet
from .progress import Progress
from .skip_guard import SkipGuard
from .train_targets import compute_targets, embedding_arrays


class TrainingError(RuntimeError):
    """Training cannot go on (diverged); the message names the step and the kept checkpoint."""


class TrainInputError(ValueError):
    """Pairs that do not fit the model (channels, empty training split)."""


def data_fingerprint(pairs: PairSet) -> str:
    """SHA-1 of the layers and the split: --resume refuses a different pair file."""
    digest = hashlib.sha1()
    for arr in (pairs.xc, pairs.xg, pairs.split):
        digest.update(np.ascontiguousarray(arr).data)
    return digest.hexdigest()


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


class EMA:
    """Exponential moving average of a model's floating-point state (buffers copied)."""

    def __init__(self, model: torch.nn.Module, decay: float, state: dict[str, torch.Tensor] | None = None):
        self.decay = decay
        src = state if state is not None else model.state_dict()
        self.state = {k: v.detach().clone().to(next(model.parameters()).device) for k, v in src.items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].lerp_(value, 1.0 - self.decay)
            else:
                self.state[key].copy_(value)


def _check_pairs(pairs: PairSet, model_cfg: ModelConfig) -> None:
    problem = pairs.fit_problem(model_cfg.task, (model_cfg.channels_c, model_cfg.channels_g))
    if problem:  # the dialog's task and a pair file made for another, or layers of another scale
        raise TrainInputError(problem)
    if not (pairs.split == TRAIN).any():
        raise TrainInputError("the pair file has no training pairs (split == 0)")


def _check_targets(targets: dict[str, torch.Tensor], pairs: PairSet, model_cfg: ModelConfig, train_cfg: TrainConfig,
                   where: Path) -> None:
    """StateLoadError unless a checkpoint holds the guidance targets this run uses: checked before
    training, as a missing one would otherwise fail only at the end (or silently drop guidance)."""
    n, n_train, dim = len(pairs), int((pairs.split == TRAIN).sum()), model_cfg.code_dim
    needed = {"lpp_all": n}
    if train_cfg.guidance_start > 0:
        needed["c"] = n_train
        if model_cfg.arch == "cdvae":
            needed["g"] = n_train
    for key, rows in needed.items():
        value = targets.get(key)
        if value is None or tuple(value.shape) != (rows, dim):
            got = "missing" if value is None else f"shape {tuple(value.shape)}"
            raise ckpt.StateLoadError(f"{where} is incomplete or damaged: guidance target {key!r} is {got}, "
                                      f"expected ({rows}, {dim})")


def _kept(epoch: int) -> str:
    """What a stopped run leaves: the checkpoint of ``epoch`` (0: none yet)."""
    return f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written yet"


@contextlib.contextmanager
def _writing(out: Path, what: str, kept_epoch: int, controls: Controls) -> Iterator[None]:
    """A failed write of the run's files (disk full, folder removed or read-only) becomes a
    TrainingError naming the file, the reason and the checkpoint kept (it was a traceback)."""
    try:
        yield
    except (OSError, SafetensorError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
        raise TrainingError(f"cannot write {what} in {out} ({reason}); {_kept(kept_epoch)}: free space or fix the "
                            f"folder, then {controls.resume_on} to continue") from exc


def _small_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The pair file's meta without per-pair lists (labels of 80,000 pairs do not belong in config.json)."""
    return {k: v for k, v in meta.items() if not (isinstance(v, list) and len(v) > 256)}


def _metrics_rows(out: Path, upto_epoch: int) -> list[str]:
    """Lines of metrics.jsonl for epochs <= upto_epoch (a resumed run rewrites the rest)."""
    path = out / ckpt.METRICS_FILE
    if not path.exists():
        return []
    keep = []
    for line in path.read_text("utf-8", errors="replace").splitlines():  # a damaged line is dropped below
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: drop it
        # anything but a row object (a stray value, a non-numeric epoch) is not ours to keep either
        if isinstance(row, dict) and isinstance(row.get("epoch", 0), (int, float)) and row.get("epoch", 0) <= upto_epoch:
            keep.append(line)
    return keep


@torch.no_grad()
def _test_loss(model: torch.nn.Module, xc: torch.Tensor, xg: torch.Tensor, batch: int, env: D.Dist) -> float | None:
    """Mean loss (kl weight 1, no guidance) over this rank's share of the test split, summed over ranks.
    It holds the free-bits charges, so it sits a few nats above neg_elbo (docs/model.md)."""
    rows = torch.arange(env.rank, len(xc), env.world)
    total = torch.zeros(2, dtype=torch.float64, device=env.device)
    model.eval()
    for start in range(0, len(rows), batch):
        idx = rows[start : start + batch].to(xc.device)
        terms = model(xc[idx], xg[idx], kl_weight=1.0, guidance_weight=0.0)
        total[0] += terms["loss"].double() * len(idx)
        total[1] += len(idx)
    model.train()
    total = D.all_sum(total, env)
    return None if total[1] == 0 else float(total[0] / total[1])


def _broken(loss: float | None, which: str, weights: dict[str, torch.Tensor]) -> str:
    """Why an epoch's model must not be saved ("" when it may): its loss on the ``which`` pairs
    is not finite, or a weight holds NaN or inf."""
    if loss is not None and not math.isfinite(loss):
        return f"the model's {which} loss is {loss}"
    bad = [name for name, t in weights.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    return f"{len(bad)} weight tensor(s) hold NaN or inf (the first: {bad[0]})" if bad else ""


def train(
    pairs: PairSet,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    controls: Controls = CLI_CONTROLS,
) -> Iterator[Progress]:
    """Train ``model_cfg`` on ``pairs``' training split into ``out_dir``, yielding Progress.

    Stages: "lpp" (guidance targets), "train" (one per step: done/total steps, running loss
    terms, images_per_s, eta_s), "epoch" (the metrics row just written), "embedding", "done".
    Raises OutputDirError / ResumeMismatchError / TrainInputError (ValueError) on bad input and
    TrainingError when ``max_skips`` updates in a row were skipped. ``controls`` names the
    caller's output-directory and resume controls in those errors (default: cdvae-train's flags).
    """
    if not str(out_dir).strip():
        raise OutputDirError("the output directory is empty: name a directory")
    out = Path(out_dir)
    _check_pairs(pairs, model_cfg)
    env = D.setup(train_cfg.device)
    threads = torch.get_num_threads()
    if train_cfg.num_threads > 0:
        torch.set_num_threads(train_cfg.num_threads)
    # cuDNN's autotuned and atomic-add convolution kernels differ from run to run; the
    # deterministic ones keep --resume equal to an unbroken run on a GPU too
    cudnn_flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    if env.device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    aligned = False  # every rank leaves at the same point: a finished run, or an error raised on all
    error = None
    try:
        yield from _run(pairs, model_cfg, train_cfg, out, resume, env, controls)
        aligned = True
    except BaseException as exc:
        aligned, error = D.on_every_rank(exc), exc
        raise
    finally:
        torch.set_num_threads(threads)  # the Studio and test processes keep their own setting
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_flags
        D.teardown(env, aligned, error)
        error = None  # no cycle through this frame's traceback


def _hyperparameters(optimizer: torch.optim.Optimizer, like: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each parameter group's settings but its parameters, as JSON has them (betas a list); with
    ``like``, only the keys that ``like``'s groups have (another torch may add its own)."""
    groups = [{k: v for k, v in g.items() if k != "params" and (like is None or k in like[min(i, len(like) - 1)])}
              for i, g in enumerate(optimizer.param_groups)]
    return json.loads(json.dumps(groups, default=str))


def _resume_state(out: Path, resume: bool, model_cfg: ModelConfig, train_cfg: TrainConfig, fingerprint: str,
                  env: D.Dist, controls: Controls) -> tuple[ckpt.TrainState | None, ModelConfig]:
    """Check the output directory and, with ``resume``, what it holds against this run: the
    checkpoint to go on from (None: start afresh) and the model config to use (the run's own
    when it has a config.json). Every rank checks before rank 0 writes anything; a refusal on one
    rank (only rank 0 probes writing) stops every rank with its message (it left the others in
    a gloo traceback)."""
    state = None
    with D.together(env):
        check_out_dir(out, resume, write_probe=env.is_main, controls=controls)
        if resume:
            has_state = check_resumable(out, controls)  # OutputDirError when there is nothing to resume
            if (out / ckpt.CONFIG_FILE).exists():
                model_cfg = check_compatible(out, model_cfg, train_cfg)
            state = ckpt.load_state(out) if has_state else None
            if state is not None:
                check_checkpoint_settings(out, state.meta, model_cfg, train_cfg)
            if state is not None and state.meta.get("data_sha1") != fingerprint:
                raise ckpt.StateLoadError(f"{out} was trained on another pair file; {controls.resume} needs the same pairs")
            if state is not None and state.epoch > train_cfg.epochs:
                # it rewrote config.json with the fewer epochs, kept weights of more, and said "model saved"
                raise ResumeMismatchError(f"{out} has trained {state.epoch} epochs already, more than the "
                                          f"{train_cfg.epochs} asked for: ask for {state.epoch} or more to resume it")
    return state, model_cfg


def _load_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: ckpt.TrainState, path: Path) -> None:
    """Load the checkpoint's model and optimizer state (StateLoadError naming ``path`` when they
    do not fit)."""
    ckpt.check_state_dict(model, state.model, path)
    model.load_state_dict(state.model)
    fresh = _hyperparameters(optimizer)
    try:
        optimizer.load_state_dict(state.optimizer)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ckpt.StateLoadError(f"{path}: the optimizer state does not fit the model "
                                  f"({' '.join(str(exc).split())})") from exc
    # the settings were checked equal to the run's, so the saved optimizer's must be the ones they
    # make: an edited lr, betas or eps was a TypeError or KeyError in the first step, NaN trained on
    if _hyperparameters(optimizer, fresh) != fresh:
        raise ckpt.StateLoadError(f"{path} is damaged: its optimizer settings "
                                  f"{_hyperparameters(optimizer, fresh)} are not the run's {fresh}")


def _write_metrics(out: Path, rows: list[str]) -> None:
    write_text_atomic(out / ckpt.METRICS_FILE, "".join(r + "\n" for r in rows))


def _save_epoch(out: Path, state: ckpt.TrainState, weights: dict[str, torch.Tensor], model_cfg: ModelConfig,
                train_cfg: TrainConfig, data_meta: dict[str, Any]) -> None:
    """Rank 0's files of the epoch ``state`` ends: the checkpoint first (one rename), then the
    weights, config.json and metrics.jsonl with the epoch's row (``state.meta["row"]``), which a
    resumed run writes again from the checkpoint."""
    ckpt.save_state(out, state)
    ckpt.write_weights(out, weights)
    ckpt.write_config(out, model_cfg, train_cfg, data_meta)
    _write_metrics(out, _metrics_rows(out, state.epoch - 1) + [json.dumps(state.meta["row"])])


def _run(pairs, model_cfg, train_cfg, out: Path, resume: bool, env: D.Dist, controls: Controls) -> Iterator[Progress]:
    fingerprint = data_fingerprint(pairs)
    state, model_cfg = _resume_state(out, resume, model_cfg, train_cfg, fingerprint, env, controls)

    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg).to(env.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)

    if state is not None:
        targets, data_meta = state.targets, state.meta.get("data", {})
        _check_targets(targets, pairs, model_cfg, train_cfg, out / ckpt.STATE_FILE)
        _load_state(model, optimizer, state, out / ckpt.STATE_FILE)
    else:
        yield Progress("lpp", 0, 1, "fitting LPP guidance targets on the training split")
        try:
            targets, lpp_meta = compute_targets(pairs, model_cfg, train_cfg)
        except ValueError as exc:  # an LPPError: what to do about it, in the caller's words
            from .lpp import LPPError  # scikit-learn loads with it: not at import

            if not isinstance(exc, LPPError):
                raise
            raise LPPError(f"{exc}; {controls.no_guidance}") from exc
        data_meta = {**_small_meta(pairs.meta), **lpp_meta, "pairs": len(pairs),
                     "train_pairs": int((pairs.split == TRAIN).sum())}
        yield Progress("lpp", 1, 1, "LPP guidance targets ready")
    ema = None
    if train_cfg.ema > 0:
        ema = EMA(model, train_cfg.ema, state.ema if state is not None else None)

    start_epoch = 0 if state is None else state.epoch
    step = 0 if state is None else state.step
    with D.together(env), _writing(out, "config.json", start_epoch, controls):
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            ckpt.write_config(out, model_cfg, train_cfg, data_meta)
            rows = _metrics_rows(out, start_epoch)
            if state is not None:
                # a kill between the checkpoint's rename and the files written after it left the
                # weights and the metrics row of an epoch behind it (or none at all, when it was the
                # last epoch, which then ended "model saved" with no weights): write them from it
                ckpt.write_weights(out, ema.state if ema is not None else model.state_dict())
                if "row" in state.meta:  # older checkpoints lack it: keep the log's own row
                    rows = _metrics_rows(out, start_epoch - 1) + [json.dumps(state.meta["row"])]
            _write_metrics(out, rows)

    train_rows = np.flatnonzero(pairs.split == TRAIN)
    test_rows = np.flatnonzero(pairs.split == TEST)
    dev = env.device
    xc_tr = torch.from_numpy(pairs.xc[train_rows]).to(dev)  # (N_train, Cc, 32, 32)
    xg_tr = torch.from_numpy(pairs.xg[train_rows]).to(dev)  # (N_train, Cg, 32, 32)
    xc_te = torch.from_numpy(pairs.xc[test_rows]).to(dev)
    xg_te = torch.from_numpy(pairs.xg[test_rows]).to(dev)
    tgt_c = targets["c"].to(dev) if "c" in targets and train_cfg.guidance_start > 0 else None  # (N_train, D)
    tgt_g = targets["g"].to(dev) if "g" in targets else None

    # the CDVAE's ladder warm-up (lower_weight); the CVAE has no lower layers and ignores it
    ladder_warmup = model_cfg.arch == "cdvae"
    net: torch.nn.Module = model
    if env.enabled:
        # every parameter gets a gradient every step, even the ladder's bottom-up heads at lower_weight 0
        net = DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    bs = train_cfg.batch_size
    n_local = len(D.shard_order(len(train_rows), 0, 0, env.rank, env.world))
    steps_per_epoch = -(-n_local // bs)
    total_steps = steps_per_epoch * train_cfg.epochs
    last_good_epoch = start_epoch
    guard = SkipGuard(train_cfg, None if state is None else state.meta)  # the skips in a row go on from the checkpoint
    run_start, run_images = time.perf_counter(), 0

    for epoch in range(start_epoch, train_cfg.epochs):
        torch.manual_seed(epoch_seed(train_cfg.seed, epoch, env.rank))
        order = torch.from_numpy(D.shard_order(len(train_rows), train_cfg.seed, epoch, env.rank, env.world)).to(dev)
        sums: dict[str, float] = {}
        count, images = 0, 0
        guard.new_epoch()
        t0 = time.perf_counter()
        for i in range(steps_per_epoch):
            idx = order[i * bs : (i + 1) * bs]
            epoch_float = epoch + i / steps_per_epoch
            kl_w = train_cfg.kl_weight(epoch_float)
            g_w = train_cfg.guidance_weight(epoch_float)
            lower_w = train_cfg.lower_weight(epoch_float)
            extra = {"lower_weight": lower_w} if ladder_warmup else {}  # logged only where it applies
            optimizer.zero_grad(set_to_none=True)
            terms = net(
                xc_tr[idx], xg_tr[idx],
                target_c=None if tgt_c is None else tgt_c[idx],
                target_g=None if tgt_g is None else tgt_g[idx],
                kl_weight=kl_w, guidance_weight=g_w, lower_weight=lower_w,
            )
            loss = terms["loss"]
            loss.backward()  # on every rank, even a bad one: DDP's all-reduce must line up
            grad_norm = torch.nn.utils.clip_grad_norm_(params, train_cfg.grad_clip)  # norm before clipping
            names = list(terms)
            values = torch.stack([terms[k].detach().float() for k in names] + [grad_norm.float()]).tolist()
            loss_v, gn = values[0], values[-1]
            verdict = D.max_over_ranks(guard.verdict(loss_v, gn), env)  # the worst over ranks
            step += 1
            images += len(idx) * env.world
            if not guard.allows_update(verdict, step):
                if guard.exhausted:  # the verdicts are the worst over ranks, so every rank stops here at this step
                    raise D.raised_on_every_rank(TrainingError(
                        guard.stop_message(step, epoch + 1, loss_v, gn, f"{_kept(last_good_epoch)} in {out}")))
                continue
            optimizer.step()
            if ema is not None:
                ema.update(model)
            for k, v in zip(names, values):
                sums[k] = sums.get(k, 0.0) + v
            sums["grad_norm"] = sums.get("grad_norm", 0.0) + gn
            count += 1
            elapsed = time.perf_counter() - t0
            rate = images / max(elapsed, 1e-9)
            done_images = run_images + images
            run_rate = done_images / max(time.perf_counter() - run_start, 1e-9)
            left = (total_steps - step) * bs * env.world
            shown = {k: v / count for k, v in sums.items()}
            shown.update(images_per_s=rate, eta_s=left / max(run_rate, 1e-9), epoch=epoch + 1,
                         kl_weight=kl_w, guidance_weight=g_w, skipped=float(guard.skipped), **extra)
            yield Progress("train", step, total_steps, f"epoch {epoch + 1}/{train_cfg.epochs}", shown)

        seconds = time.perf_counter() - t0
        run_images += images
        if env.enabled:  # epoch means over every rank's batches, not rank 0's alone
            keys = sorted(sums)
            summed = D.all_sum(torch.tensor([sums[k] for k in keys] + [count], dtype=torch.float64, device=dev), env)
            sums = dict(zip(keys, summed[:-1].tolist()))
            count = int(summed[-1].item())
        test_loss = _test_loss(model, xc_te, xg_te, max(bs, 256), env) if len(test_rows) else None
        weights = ema.state if ema is not None else model.state_dict()
        # skipped steps keep the weights of the last update, which may already be broken: an epoch
        # of NaN steps, fewer than max_skips, was saved as a good model that could not be loaded
        probe = test_loss if test_loss is not None else _test_loss(model, xc_tr[:256], xg_tr[:256], 256, env)
        broken = _broken(probe, "test" if test_loss is not None else "training", weights)
        if broken:
            raise D.raised_on_every_rank(TrainingError(
                f"training stopped after epoch {epoch + 1} (step {step}): {broken} ({guard.skipped} of "
                f"{steps_per_epoch} updates skipped in the epoch); {_kept(last_good_epoch)} in {out}; "
                f"train again with a lower --lr"))
        row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "seconds": seconds,
                               "images_per_s": images / max(seconds, 1e-9), "skipped": guard.skipped,
                               "forced_updates": guard.forced,
                               "kl_weight": train_cfg.kl_weight(epoch + 1),
                               "guidance_weight": train_cfg.guidance_weight(epoch + 1)}
        row.update({k: v / max(count, 1) for k, v in sums.items()})
        row["test_loss"] = test_loss
        # rank 0 writes; a failed write (disk full, folder gone) stops every rank with its message
        with D.together(env), _writing(out, f"the checkpoint of epoch {epoch + 1}", last_good_epoch, controls):
            if env.is_main:
                _save_epoch(out, ckpt.TrainState(
                    epoch=epoch + 1, step=step, model=model.state_dict(), optimizer=optimizer.state_dict(),
                    ema=None if ema is None else ema.state, targets=targets,
                    meta={"data_sha1": fingerprint, "data": data_meta, "model": model_cfg.to_dict(),
                          "training": train_cfg.to_dict(), "world": env.world, "device": str(env.device),
                          **guard.meta(), "row": row},
                ), weights, model_cfg, train_cfg, data_meta)
        last_good_epoch = epoch + 1
        yield Progress("epoch", epoch + 1, train_cfg.epochs, f"epoch {epoch + 1} saved", {
            k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and v is not None})

    if env.is_main:
        yield Progress("embedding", 0, 1, "encoding x_c for the LPP scatter plot")
    with D.together(env), _writing(out, "embedding.safetensors", train_cfg.epochs, controls):
        if env.is_main:
            if ema is not None:
                model.load_state_dict(ema.state)
            ckpt.write_embedding(out, embedding_arrays(model, pairs, targets, dev, train_cfg.seed))
    yield Progress("done", train_cfg.epochs, train_cfg.epochs, f"model saved in {out}")
