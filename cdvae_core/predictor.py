"""The per-image numpy API over a trained model: what the Studio, export and commands call.

A ``Condition`` holds everything about one conditioning image that does not change while the
user drags sliders, so each slider move costs only the x_g generative pass (``decode``).
All arrays are float32 numpy; x_c is one image (Cc, 32, 32) (``sample_batch``: a batch); codes are (n, D).

A sample is a code z_L (D,) plus, for a ladder with lower layers, one standard-normal draw for
those layers (``noise_dim``,): ``draw`` returns both, and ``decode(cond, codes, noise)`` is then the
model's full sample, a smooth function of the code for fixed noise. ``noise=None`` decodes with
the lower layers at their conditional means (smoother still, but it hides part of the spread).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from .config import CONDITIONALS, ModelConfig
from .distinct import DISTINCT_POOL

MAX_TEMPERATURE = 2.0  # sampling temperature beyond which draws leave what the model was trained on
SAMPLE_BUDGET = 2048  # samples decoded per batch by batched_samples (about 16 MB of 1-channel layers)


@dataclass(frozen=True)
class Condition:
    """One conditioning image, encoded once.

    xc (1, Cc, 32, 32); mu_c / lv_c (1, D) the posterior of its code (CDVAE), features
    (1, F) the image-tower output (CVAE).
    """

    xc: torch.Tensor
    mu_c: torch.Tensor | None
    lv_c: torch.Tensor | None
    features: torch.Tensor | None


def _generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
    return gen


def chunk_size(n_samples: int, budget: int = SAMPLE_BUDGET) -> int:
    """Conditioning images per batch so that one batch decodes about ``budget`` samples."""
    return max(1, budget // max(1, n_samples))


def batched_samples(model: nn.Module, xc: np.ndarray, n: int, seed: int,
                    device: torch.device | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, samples (b, n, Cg, 32, 32) float32) over xc (B, Cc, 32, 32), seeded once.

    One torch.Generator runs through the batches of ``chunk_size(n)`` images, so the result
    depends only on ``seed`` (not on how the consumer uses it). The one implementation behind
    ``Predictor.sample_batch``, cdvae-sample, cdvae-eval and the results suite.
    """
    device = device or torch.device("cpu")
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    step = chunk_size(n)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(xc), step):
            chunk = torch.from_numpy(np.ascontiguousarray(xc[start : start + step])).to(device)
            yield start, model.sample(chunk, n, gen).float().cpu().numpy()


# tie drift (RMS tie-spread units) that flags a sample as drifted; the Studio's red badges. Where a
# model's own training pairs drift further (motion's ladders with held guidance: median 1.35 for
# the built-in Gauss), their DRIFT_QUANTILE quantile instead (Predictor.drift_limit)
DRIFT_LIMIT = 2.0
DRIFT_QUANTILE = 0.99


class Predictor:
    """Wraps a CDVAE or CVAE in eval mode for single-image, seeded, numpy-in numpy-out use."""

    def __init__(
        self,
        model: nn.Module,
        task: str | None = None,
        embedding: Any = None,
        name: str | None = None,
        path: str | None = None,
    ) -> None:
        self.model = model.eval()
        self.config: ModelConfig = model.cfg
        self.task = task or self.config.task
        self.embedding = embedding
        self.name = name or self.config.display_name
        self.path = path
        # the conditional the embedding's tie_drift was measured under: the one config.json names
        self.saved_conditional = self.config.tie_conditional
        self._train_drifts: dict[str, np.ndarray | None] = {}

    def use_conditional(self, kind: str) -> None:
        """Sample (and score the NLL and drift) with ``kind`` ("exact" or "paper") instead of the
        conditional the model's config names, as if its config.json said so (training never read
        it). ValueError for a model without a tie."""
        if not self.has_tie:
            raise ValueError(f"{self.name} has no tie, so no conditional to choose")
        if kind not in CONDITIONALS:
            raise ValueError(f"the conditional must be one of {', '.join(CONDITIONALS)}, got {kind!r}")
        self.config = replace(self.config, tie_conditional=kind)
        self.model.cfg = self.config
        self.model.tie.conditional_kind = kind

    def with_conditional(self, kind: str) -> "Predictor":
        """A predictor of the same model sampling with ``kind`` ("exact" or "paper"): this one when
        it already does, else a copy of its own (the model's modules copied, the embedding shared),
        so that a job still drawing from this one keeps its conditional. ValueError as
        ``use_conditional``."""
        if kind == self.config.tie_conditional and self.has_tie:
            return self
        other = Predictor(copy.deepcopy(self.model), self.task, self.embedding, self.name, self.path)
        other.saved_conditional = self.saved_conditional
        other.use_conditional(kind)
        return other

    # ----- what the model is ---------------------------------------------------------------

    @property
    def has_tie(self) -> bool:
        """A CDVAE with a Gaussian or MDN tie: it has a conditional p(z_g | z_c) to draw from."""
        return not self.is_cvae and self.config.tie != "none"

    @property
    def is_cvae(self) -> bool:
        return self.config.arch == "cvae"

    @property
    def code_dim(self) -> int:
        return self.config.code_dim

    @property
    def tied_dims(self) -> int:
        return self.config.tied_dims

    @property
    def mixtures(self) -> int:
        return self.config.mixtures if (not self.is_cvae and self.config.tie == "mdn") else 0

    @property
    def noise_dim(self) -> int:
        """Length of a sample's lower-layer noise row (0: no latent layers below the code)."""
        return 0 if self.is_cvae else self.model.dvae_g.lower_dim

    @property
    def supports_nll(self) -> bool:
        return bool(getattr(self.model, "supports_nll", False))

    # ----- per image -----------------------------------------------------------------------

    @torch.inference_mode()
    def prepare(self, xc: np.ndarray) -> Condition:
        """Encode one conditioning layer (Cc, 32, 32) once."""
        cfg = self.config
        arr = np.asarray(xc, dtype=np.float32)
        if arr.shape != (cfg.channels_c, 32, 32):
            raise ValueError(f"x_c must have shape ({cfg.channels_c}, 32, 32), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("x_c holds NaN or infinite values")
        x = torch.from_numpy(arr.copy())[None]
        if self.is_cvae:
            cond = Condition(x, None, None, self.model.image_features(x))
            encoded = [cond.features]
        else:
            cond = Condition(x, *self.model.encode_c(x), None)
            encoded = [cond.mu_c, cond.lv_c]
        # x_c far outside the values the model was trained on (a thumbnail of 6e4) overflows the
        # encoder; drawing from it was torch's "probability tensor contains inf or nan"
        if not all(torch.isfinite(t).all() for t in encoded):
            raise ValueError(f"the model cannot encode this x_c (values from {arr.min():.3g} to {arr.max():.3g}): "
                             f"its code is not finite")
        return cond

    @torch.inference_mode()
    def draw_codes(self, cond: Condition, n: int, seed: int | None = None, component: int | None = None,
                   temperature: float = 1.0) -> np.ndarray:
        """n codes from the conditional p(z_g | x_c): (n, D). ``component`` picks one MDN component;
        ``temperature`` in [0, MAX_TEMPERATURE] scales the draws' spread (1: the model's own)."""
        return self.draw(cond, n, seed, component, temperature)[0]

    def _codes(self, cond: Condition, n: int, gen: torch.Generator, component: int | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """(1, n, D) codes; a CDVAE reuses the prepared posterior instead of encoding x_c again."""
        if self.is_cvae:
            return self.model.draw_codes(cond.xc, n, gen, component, temperature)
        return self.model.codes_given(cond.mu_c, cond.lv_c, n, gen, component, temperature)

    @torch.inference_mode()
    def draw(self, cond: Condition, n: int, seed: int | None = None, component: int | None = None,
             temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """n full samples' randomness: codes (n, D), exactly ``draw_codes`` for the same arguments,
        and lower-layer noise (n, noise_dim) drawn after them from the same seed, scaled by
        ``temperature`` like the codes. ``decode(cond, codes, noise)`` turns them into samples."""
        if component is not None and self.mixtures == 0:
            raise ValueError("only an MDN tie has mixture components to choose from")
        if not 0.0 <= temperature <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must lie in [0, {MAX_TEMPERATURE}], got {temperature}")
        gen = _generator(seed)
        codes = self._codes(cond, n, gen, component, temperature)[0].numpy().copy()
        return codes, self._noise(n, gen, temperature)

    def _noise(self, n: int, gen: torch.Generator, temperature: float) -> np.ndarray:
        if self.noise_dim == 0:
            return np.zeros((n, 0), np.float32)
        # drawn as the model's own sampler draws them: draw + decode at temperature 1 is ``sample``
        return (self.model.dvae_g.lower_noise(n, gen) * temperature).numpy().astype(np.float32)

    def check_noise(self, noise: np.ndarray | None, n: int) -> np.ndarray | None:
        """``noise`` as float32 (n, noise_dim), or None (lower layers at their means); ValueError
        for a shape that does not fit this model or values that are not finite."""
        if noise is None:
            return None
        arr = np.asarray(noise, dtype=np.float32)
        if arr.shape != (n, self.noise_dim):
            raise ValueError(f"lower-layer noise must have shape ({n}, {self.noise_dim}) for this model, "
                             f"got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("lower-layer noise contains NaN or infinite values")
        return arr

    def check_codes(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` as float32 (n, D); ValueError for another shape (a flat or (n, 2) array was
        reshaped into whatever count of codes it held) or values that are not finite."""
        arr = np.asarray(codes, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.code_dim:
            raise ValueError(f"codes must have shape (n, {self.code_dim}) for this model, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("codes contain NaN or infinite values")
        return arr

    @torch.inference_mode()
    def decode(self, cond: Condition, codes: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Codes (n, D) and lower-layer noise (n, noise_dim) -> x_g (n, Cg, 32, 32); without noise
        the lower latent layers sit at their conditional means."""
        z = torch.from_numpy(self.check_codes(codes).copy())
        eps = self.check_noise(noise, z.shape[0])
        if self.is_cvae:
            out = self.model.decode_with(cond.features.expand(z.shape[0], -1), z)
        else:
            out = self.model.decode_g(z, noise=None if eps is None or self.noise_dim == 0 else torch.from_numpy(eps.copy()))
        xg = out.numpy().copy()
        if not np.isfinite(xg).all():  # codes far from any the model saw; every later step would fail on them (4 us)
            raise ValueError("the model's samples are not finite here (an x_c or code far outside those it was "
                             "trained on)")
        return xg

    def draw_distinct(self, cond: Condition, n: int, seed: int | None = None, component: int | None = None,
                      temperature: float = 1.0, pool: int = DISTINCT_POOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The n most distinct of ``pool`` full samples (``distinct.draw_distinct``): codes (n', D),
        noise (n', noise_dim) and each one's share (n',) of the pool, largest first."""
        from .distinct import draw_distinct

        return draw_distinct(self, cond, n, seed, component, temperature, pool)

    @torch.inference_mode()
    def sample(self, cond: Condition, n: int, seed: int | None = None) -> np.ndarray:
        """n full conditional samples (every latent layer drawn): (n, Cg, 32, 32)."""
        if self.is_cvae:
            return self.model.sample(cond.xc, n, _generator(seed))[0].numpy().copy()
        return self.model.samples_given(cond.mu_c, cond.lv_c, n, _generator(seed))[0].numpy().copy()

    def sample_batch(self, xc: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        """n full conditional samples of each of B conditioning images: xc (B, Cc, 32, 32) ->
        (B, n, Cg, 32, 32), exactly what ``cdvae-sample --pairs`` writes for the same seed."""
        cfg = self.config
        arr = np.asarray(xc, dtype=np.float32)
        if arr.ndim != 4 or arr.shape[1:] != (cfg.channels_c, 32, 32):
            raise ValueError(f"x_c must have shape (B, {cfg.channels_c}, 32, 32), got {arr.shape}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        out = np.empty((len(arr), n, cfg.channels_g, 32, 32), np.float32)  # (B, n, Cg, 32, 32)
        for start, chunk in batched_samples(self.model, arr, n, seed):
            out[start : start + len(chunk)] = chunk
        return out

    @torch.inference_mode()
    def encode_target(self, cond: Condition, xg: np.ndarray) -> np.ndarray:
        """Posterior mean code (D,) of a true x_g (Cg, 32, 32): decode it for the "encoded" sample."""
        arr = np.asarray(xg, dtype=np.float32)
        channels = self.config.channels_g
        if arr.shape != (channels, 32, 32):
            raise ValueError(f"a true x_g must have shape ({channels}, 32, 32) for this model, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("the true x_g contains NaN or infinite values")
        x = torch.from_numpy(arr.copy())[None]
        if self.is_cvae:
            return self.model.encode_posterior(cond.xc, x)[0].numpy().copy()
        return self.model.encode_g(x)[0][0].numpy().copy()

    @torch.inference_mode()
    def code_stats(self, cond: Condition) -> tuple[np.ndarray, np.ndarray]:
        """Conditional mean and spread (D,), (D,) of each code component at the image's mean code."""
        if self.is_cvae:
            return np.zeros(self.code_dim, np.float32), np.ones(self.code_dim, np.float32)
        mean, std = self.model.conditional(cond.mu_c).moments()
        return mean[0].numpy().copy(), std[0].numpy().copy()

    @torch.inference_mode()
    def mixture(self, cond: Condition) -> tuple[np.ndarray, np.ndarray]:
        """MDN tie only: component weights (K,) and means (K, D) of p(z_g | z_c) at the mean code."""
        if self.mixtures == 0:
            raise ValueError("this model has no MDN tie")
        mix = self.model.conditional(cond.mu_c)
        return mix.log_weights[0].exp().numpy().copy(), mix.means[0].numpy().copy()

    @torch.inference_mode()
    def mixture_components(self, codes_c: np.ndarray, batch: int = 4096) -> np.ndarray:
        """MDN tie only: the most probable component of p(z_g | z_c) for each code z_c (N, D) -> (N,)
        int64 (the Studio colours the training codes of the scatter plot by it)."""
        if self.mixtures == 0:
            raise ValueError("this model has no MDN tie")
        codes = np.asarray(codes_c, np.float32).reshape(-1, self.code_dim)
        parts = [self.model.conditional(torch.from_numpy(codes[i : i + batch].copy())).log_weights.argmax(1)
                 for i in range(0, len(codes), batch)]
        return torch.cat(parts).numpy().astype(np.int64) if parts else np.zeros(0, np.int64)

    def component_effects(self, cond: Condition, code: np.ndarray | None = None) -> np.ndarray:
        """How far each code component moves the sample: (D,) float32, the mean absolute change
        of x_g per unit of the component, between z_i - 1 and z_i + 1 around ``code`` (default:
        the conditional mean), the lower layers at their means. A VAE leaves some components
        nearly unused; their sliders move the result by a grey level or two however far they go."""
        base = self.code_stats(cond)[0] if code is None else self.check_codes(np.asarray(code)[None])[0]
        d = self.code_dim
        codes = np.repeat(np.asarray(base, np.float32)[None], 2 * d, 0)  # (2D, D): each component -1, +1
        rows = np.arange(d)
        codes[2 * rows, rows] -= 1.0
        codes[2 * rows + 1, rows] += 1.0
        xg = self.decode(cond, codes)  # (2D, Cg, 32, 32)
        return (np.abs(xg[1::2] - xg[0::2]).reshape(d, -1).mean(1) / 2.0).astype(np.float32)

    @torch.inference_mode()
    def code_of_condition(self, cond: Condition) -> np.ndarray | None:
        """The image's own code (posterior mean of z_c) (D,), or None for the CVAE."""
        return None if cond.mu_c is None else cond.mu_c[0].numpy().copy()

    @torch.inference_mode()
    def tie_drift(self, cond: Condition, xg_samples: np.ndarray) -> np.ndarray:
        """Re-encode samples (n, Cg, 32, 32) and measure how far their tied code components sit from
        the conditioning image's code, in units of the tie's spread: (n,). Zero-length for no tie."""
        if self.tied_dims == 0 or self.is_cvae or cond.mu_c is None:
            return np.zeros(len(xg_samples), np.float32)
        x = torch.from_numpy(np.asarray(xg_samples, dtype=np.float32).copy())
        return self.model.tie_drift(cond.mu_c, x).numpy().copy()

    def train_drift(self) -> np.ndarray | None:
        """The tie drift (N,) of the embedding's rows' own x_g under the conditional sampled now:
        as ``embedding.safetensors`` recorded it under the saved conditional, else from its x_g
        codes (``codes_g``); None without a tie, an embedding, or (models saved before 2026-11-29,
        the other conditional) its codes."""
        kind = self.config.tie_conditional
        if kind not in self._train_drifts:
            emb = self.embedding
            drift = None if not self.has_tie or emb is None else getattr(emb, "tie_drift", None)
            if drift is not None and kind != self.saved_conditional:
                from .train_targets import codes_drift

                codes_c, codes_g = getattr(emb, "codes_c", None), getattr(emb, "codes_g", None)
                drift = None if codes_c is None or codes_g is None else codes_drift(
                    self.model, np.asarray(codes_c, np.float32), np.asarray(codes_g, np.float32),
                    next(self.model.parameters()).device)
            self._train_drifts[kind] = drift
        return self._train_drifts[kind]

    @property
    def drift_limit(self) -> float:
        """The tie drift above which a sample is unusual for this model: DRIFT_LIMIT, or further
        where the model's own training pairs drift more (their DRIFT_QUANTILE quantile,
        ``train_drift``; models saved before it was recorded: DRIFT_LIMIT)."""
        drift = self.train_drift()
        if drift is None:
            return DRIFT_LIMIT
        train = drift[np.asarray(self.embedding.split) == 0]
        return max(DRIFT_LIMIT, float(np.quantile(train, DRIFT_QUANTILE))) if len(train) else DRIFT_LIMIT
