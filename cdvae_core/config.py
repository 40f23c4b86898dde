"""Typed settings for models and training: frozen dataclasses saved as JSON beside the weights.

``from_dict`` refuses unknown keys, so a typo in a config file is an error instead of a silently
ignored setting.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import types
from dataclasses import dataclass, fields
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

ARCHS = ("cdvae", "cvae")
TIES = ("none", "gauss", "mdn")
CONDITIONALS = ("exact", "paper")  # tie_conditional once resolved
# what a saved model's config.json holds beside its settings ("model", "training"): the record of its run
RUN_RECORD_KEYS = ("format", "format_version", "library_version", "data")


class ConfigError(ValueError):
    """A setting that is unknown or out of range."""


def is_int(value: object) -> bool:
    """An int, not a bool (JSON's true is a Python int): the check every reader of settings,
    pair meta and checkpoints makes."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


MAX_JSON_BYTES = 16 * 2**20  # settings, sessions and sidecars are kilobytes; a 4 GB video is a slip


def read_small_text(path: str | os.PathLike, most: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text of a small regular file: a settings file, a session, a sidecar.

    ValueError (its message is the reason) for something that is not a regular file, whose read
    would never end (/dev/zero) or would block (a FIFO), and for a file over ``most`` bytes, read
    whole before the JSON parser could refuse it; OSError and UnicodeDecodeError as reading
    raises them.
    """
    # non-blocking: opening a FIFO to read waits for a writer; a regular file reads as ever
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError("a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file")
    with open(fd, "rb") as handle:
        data = handle.read(most + 1)
    if len(data) > most:
        raise ValueError(f"larger than {most // 2**20} MiB")
    return data.decode("utf-8")


def _type_name(hint: Any) -> str:
    """'an int', 'a list of ints', 'a number or null', ... for error messages."""
    args = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if get_origin(hint) in (tuple, list):
        return f"a list of {_type_name(args[0]).split(' ', 1)[1]}s"
    return {int: "an int", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


def _checked(hint: Any, value: Any) -> tuple[bool, Any]:
    """(value fits the annotation, value as stored): a JSON list becomes a tuple (a list for
    ``list[X]``), an int a float."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in args:
            ok, out = (value is None, None) if arg is type(None) else _checked(arg, value)
            if ok:
                return True, out
        return False, value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        repeated = origin is list or (len(args) == 2 and args[1] is Ellipsis)  # list[X], tuple[X, ...]
        item_hints = [args[0]] * len(value) if repeated else list(args)
        if len(item_hints) != len(value):
            return False, value
        items = [_checked(h, v) for h, v in zip(item_hints, value)]
        return all(ok for ok, _ in items), (list if origin is list else tuple)(v for _, v in items)
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return is_int(value), value
    if hint is float:  # NaN and inf pass here: each setting's range check says what it allows
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    return True, value


def typed_values(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """``data``'s settings of dataclass ``cls``, each checked against its type (ints given for
    floats become floats); unknown keys and values of the wrong type are ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} settings must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    hints = get_type_hints(cls)
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            ok, values[f.name] = _checked(hints[f.name], data[f.name])
            if not ok:
                raise ConfigError(f"{cls.__name__} setting {f.name} must be {_type_name(hints[f.name])}, "
                                  f"got {data[f.name]!r}")
    return values


def typed_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from JSON-like settings: unknown keys and values of the wrong type are ConfigErrors."""
    return cls(**typed_values(cls, data))


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s object_pairs_hook refusing a key given twice (JSON keeps the last silently)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"setting {key!r} is given twice")
        seen[key] = value
    return seen


def default_conditional(tie: str) -> str:
    """The tie's default conditional: the raw MDN fits the posterior codes better than the MDN times
    N(0, I), which counts the prior twice; for the Gaussian tie the exact conditional fits better
    (docs/model.md, measured on every shipped model)."""
    return "paper" if tie == "mdn" else "exact"


def conditional_name(tie: str, kind: str) -> str:
    """What the ``tie``'s conditional ``kind`` ("exact" or "paper") draws z_g from, in words."""
    if tie == "mdn":
        return "the raw MDN p(z_g | z_c)" if kind == "paper" else "the MDN times N(0, I), normalised"
    return ("N(z_c, sigma_t^2) on the tied components (the paper's)" if kind == "paper"
            else "the exact conditional of the joint prior")


MAX_WIDTH = 65536  # any layer's size: a config is built before its weights are checked against it
MAX_DEFAULT_LAYERS = 13  # sizes_for_layers' deepest ladder whose z_1 (16 * 2^(L-1)) stays within MAX_WIDTH


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's modules. Sizes run bottom (z_1) to top (z_L)."""

    task: str = "resaturation"  # which task's layers the model maps (decides channels)
    arch: str = "cdvae"  # "cdvae" (two ladder DVAEs + tie) or "cvae" (baseline)
    tie: str = "gauss"  # "none", "gauss" or "mdn" (cdvae only)
    channels_c: int = 1  # channels of x_c
    channels_g: int = 1  # channels of x_g
    g_scale: float = 1.0  # x_g is divided by this inside the model (motion: 8 px/s), so the ladders see unit-scale layers
    image_size: int = 32  # the model's square resolution; the paper uses 32
    latent_sizes: tuple[int, ...] = (64, 32, 16)  # z_1 .. z_L; z_L is "the code"
    hidden_sizes: tuple[int, ...] = (256, 128, 64)  # MLP width into each latent layer (half LVAE's: 2 CPU cores)
    conv_channels: tuple[int, ...] = (16, 32, 64)  # conv tower 32 -> 16 -> 8 -> 4
    tied_fraction: float = 0.8  # Gaussian tie: leading share of z_L tied (paper: 80%)
    sigma_t: float = 0.5  # Gaussian tie spread sigma_t
    # sampling's p(z_g | z_c): "exact" conditional of the joint prior, or the "paper"'s N(z_c, s^2) and raw
    # MDN; "auto" (the default) picks per tie what fits the codes better (docs/model.md): MDN paper, else exact
    tie_conditional: str = "auto"
    mixtures: int = 4  # MDN tie: K components (paper: 4 and 12)
    mdn_sigma: float = 0.3  # MDN tie: fixed per-component standard deviation
    mdn_hidden: int = 256  # MDN tie: hidden width of the z_c -> mixture network
    # the lower layers' generative priors also see the code: p(z_i | z_{i+1}, z_L); off in the
    # paper's ladder and in every model saved before the setting existed (docs/model.md)
    top_skip: bool = False
    # the x_c ladder models x_c with two fixed channels of its local orientation, reading and
    # reconstructing them (the CVAE's towers read them; cdvae_core.orientation): motion's line of
    # motion follows the frame's structure, which conv encoders trained on few scenes do not learn
    # to compute (docs/results.md); off in every model saved before it existed
    xc_orientation: bool = False
    free_bits: float = 0.5  # training charges each top-code component at least this KL (nats); 0 = off
    min_logvar: float = -9.0  # variance floor (log) for every Gaussian, keeps KLs finite
    decoder_min_logvar: float = -7.0  # floor on the learned pixel log-variance
    cvae_latent: int = 16  # CVAE baseline: size of its latent code
    cvae_sigma: float = 0.1  # CVAE baseline: pixel sigma turning its L2 loss into a likelihood

    def __post_init__(self) -> None:
        from .tasks import TASK_NAMES  # here: the tasks import this module

        if self.task not in TASK_NAMES + ("synthetic",):
            raise ConfigError(f"task must be one of {', '.join(TASK_NAMES)} or synthetic (a known-mode set), "
                              f"got {self.task!r}")
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.tie not in TIES:
            raise ConfigError(f"tie must be one of {TIES}, got {self.tie!r}")
        if len(self.latent_sizes) < 1 or len(self.latent_sizes) != len(self.hidden_sizes):
            raise ConfigError("latent_sizes and hidden_sizes need one entry per latent layer")
        if min(self.latent_sizes + self.hidden_sizes + self.conv_channels
               + (self.cvae_latent, self.mdn_hidden, self.channels_c, self.channels_g)) < 1:
            raise ConfigError("latent_sizes, hidden_sizes, conv_channels, cvae_latent, mdn_hidden, channels_c and "
                              "channels_g must be positive")
        # a config is built before its weights are checked against it: 2^70 channels overflowed
        # torch, and far smaller sizes would take all the memory first
        widest = max(self.latent_sizes + self.hidden_sizes + self.conv_channels + (self.cvae_latent, self.mdn_hidden))
        if widest > MAX_WIDTH or max(self.channels_c, self.channels_g) > 64 or self.mixtures > 1024:
            raise ConfigError(f"layer sizes must be at most {MAX_WIDTH}, channels_c and channels_g at most 64, and "
                              "mixtures at most 1024")
        if not 1 <= len(self.conv_channels) <= 5:  # each stride-2 layer halves 32: 5 reach 1x1, 0 build no tower
            raise ConfigError(f"conv_channels needs 1 to 5 entries (32x32 halved per layer), got {len(self.conv_channels)}")
        if not 0.0 <= self.tied_fraction <= 1.0:
            raise ConfigError("tied_fraction must lie in [0, 1]")
        if self.tie_conditional not in CONDITIONALS + ("auto",):
            raise ConfigError(f"tie_conditional must be 'exact', 'paper' or 'auto', got {self.tie_conditional!r}")
        if self.tie_conditional == "auto":  # resolved here, so a saved config.json names the one it samples with
            object.__setattr__(self, "tie_conditional", default_conditional(self.tie))
        # written "not ... <= x <= ..." so that NaN fails too; the upper bounds are far beyond any
        # sensible value but short of overflow (sigma_t 1e308 squared was an OverflowError, free_bits
        # 1e308 a RuntimeError, NaN sigma_t trained without complaint)
        if not all(0 < v <= 1e6 for v in (self.sigma_t, self.mdn_sigma, self.cvae_sigma, self.g_scale)):
            raise ConfigError("sigma_t, mdn_sigma, cvae_sigma and g_scale must be positive (at most 1e6)")
        if not 0 <= self.free_bits <= 1e3:
            raise ConfigError(f"free_bits must lie in [0, 1000] nats, got {self.free_bits}")
        if not (-50 <= self.min_logvar <= 10 and -50 <= self.decoder_min_logvar <= 10):
            raise ConfigError("min_logvar and decoder_min_logvar must lie in [-50, 10]")
        if self.mixtures < 1:
            raise ConfigError("mixtures must be at least 1")
        if self.image_size != 32:
            raise ConfigError("the models work on 32x32 layers (image_size 32)")
        if self.top_skip and (self.arch != "cdvae" or len(self.latent_sizes) < 3):
            raise ConfigError("top_skip needs the CDVAE with 3 or more latent layers (below that every lower "
                              "layer's prior already sees z_L)")

    @property
    def layers(self) -> int:
        return len(self.latent_sizes)

    @property
    def code_dim(self) -> int:
        return self.cvae_latent if self.arch == "cvae" else self.latent_sizes[-1]

    @property
    def tied_dims(self) -> int:
        if self.arch == "cvae" or self.tie == "none":
            return 0
        if self.tie == "mdn":
            return self.code_dim
        return int(round(self.tied_fraction * self.code_dim))

    @property
    def conditional_text(self) -> str:
        """What the model draws the code z_g from, for a tooltip or a log line ("" without a tie)."""
        if self.arch == "cvae" or self.tie == "none":
            return ""
        kind = self.tie_conditional
        what = conditional_name(self.tie, kind)
        default = " (the tie's default)" if kind == default_conditional(self.tie) else ""
        return f"Codes are drawn from {what}: tie_conditional \"{kind}\" in config.json{default}"

    @property
    def display_name(self) -> str:
        if self.arch == "cvae":
            return "CVAE"
        if self.tie == "mdn":
            return f"MDN K={self.mixtures}"
        if self.tie == "gauss":
            return "Shallow" if self.layers == 1 else "Gauss"
        return "Untied"

    @staticmethod
    def sizes_for_layers(layers: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Default (latent_sizes, hidden_sizes) for L layers: latents double downwards from a
        16-dimensional code z_L (L = 3 gives LVAE's 64/32/16); widths halve upwards from 256 next
        to the image, so the Shallow model (L = 1) keeps the deep model's bottom width."""
        if not 1 <= layers <= MAX_DEFAULT_LAYERS:  # --layers 20 was "layer sizes must be at most 65536, ..."
            raise ConfigError(f"layers must lie in [1, {MAX_DEFAULT_LAYERS}] (z_1 doubles per layer below the "
                              f"16-dimensional code: {MAX_DEFAULT_LAYERS} layers make it {MAX_WIDTH} wide), got {layers}")
        latents = tuple(16 * 2 ** (layers - 1 - i) for i in range(layers))
        hidden = tuple(max(32, 256 // 2**i) for i in range(layers))
        return latents, hidden

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return typed_from_dict(cls, data)


# motion's guidance weight, held throughout training instead of decaying (tasks.train_defaults): z_c
# keeps more of the orientation its LPP targets carry (docs/results.md, "Motion")
MOTION_HELD_GUIDANCE = 30.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved with the model so a run can be repeated or resumed."""

    epochs: int = 40  # passes over the training split
    batch_size: int = 64  # pairs per step (per process under torchrun)
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay
    seed: int = 0  # seeds data order, initialisation and sampling
    kl_warmup_epochs: float = 5.0  # KL weight ramps 0 -> 1 over these epochs (LVAE warm-up)
    lower_warmup_epochs: float = 5.0  # ladder warm-up: lower layers' evidence ramps 0 -> 1 (CDVAE lower_weight)
    guidance_start: float = 10.0  # lambda(0) of the embedding-guidance cost
    guidance_end: float = 1.0  # lambda at guidance_epochs and after: pulls a code mean 2/3 of the way to its target (docs/model.md)
    guidance_epochs: float = 20.0  # epochs of the geometric decay from start to end
    lpp_neighbours: int = 10  # k of the kNN graph behind the LPP targets
    grad_clip: float = 200.0  # clip the gradient norm to this (vdvae); losses are nats per pair
    skip_threshold: float = 1e6  # skip the update when the (unclipped) gradient norm exceeds this
    max_skips: int = 50  # stop with an error after this many skipped updates in a row
    # a finite norm above skip_threshold skips at most this many updates in a row; the next one is
    # applied clipped (0: always skip). A skip leaves the weights as they were, so norms that stay
    # high over several batches come from the weights, and skipping them would go on for ever.
    spike_patience: int = 5
    ema: float = 0.0  # keep an exponential moving average of weights when > 0
    device: str = "auto"  # "auto", "cpu" or "cuda"
    num_threads: int = 0  # torch CPU threads; 0 leaves torch's default

    def __post_init__(self) -> None:
        # written "not x >= 0" so that NaN fails too; checked before a run writes anything
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        for name in ("weight_decay", "kl_warmup_epochs", "lower_warmup_epochs", "guidance_start", "guidance_epochs"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {value}")
        if self.guidance_start > 0 and not (math.isfinite(self.guidance_end) and self.guidance_end > 0):
            raise ConfigError(f"guidance_end must be positive (the guidance weight decays geometrically from "
                              f"guidance_start to it), got {self.guidance_end}")
        if self.lpp_neighbours < 1 or self.max_skips < 1:
            raise ConfigError("lpp_neighbours and max_skips must be at least 1")
        if self.spike_patience < 0:
            raise ConfigError("spike_patience must be 0 (always skip) or more")
        if not (self.grad_clip > 0 and self.skip_threshold > 0):
            raise ConfigError("grad_clip and skip_threshold must be positive")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must lie in [0, 1), got {self.ema}")
        if not 0 <= self.num_threads <= 4096:  # 2^70 overflowed torch.set_num_threads
            raise ConfigError("num_threads must be 0 (torch's default) or more, at most 4096")
        # numpy's SeedSequence takes no negative seed (was a traceback when the first epoch began),
        # torch's generator none past 2^64 - 1 (epoch seeds add to it)
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must lie in [0, 2^63), got {self.seed}")
        if not self.weight_decay <= 1:  # 1e308 overflowed Adam's float
            raise ConfigError(f"weight_decay must lie in [0, 1], got {self.weight_decay}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError("device must be auto, cpu or cuda")

    def guidance_weight(self, epoch_float: float) -> float:
        """lambda(t): geometric decay from guidance_start to guidance_end over guidance_epochs."""
        if self.guidance_start <= 0:
            return 0.0
        t = min(1.0, max(0.0, epoch_float / max(self.guidance_epochs, 1e-9)))
        return float(self.guidance_start * (self.guidance_end / self.guidance_start) ** t)

    def kl_weight(self, epoch_float: float) -> float:
        if self.kl_warmup_epochs <= 0:
            return 1.0
        return float(min(1.0, epoch_float / self.kl_warmup_epochs))

    def lower_weight(self, epoch_float: float) -> float:
        """Ladder warm-up: 0 routes everything through the code z_L, 1 is the plain ladder VAE."""
        if self.lower_warmup_epochs <= 0:
            return 1.0
        return float(min(1.0, epoch_float / self.lower_warmup_epochs))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return typed_from_dict(cls, data)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
