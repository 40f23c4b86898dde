"""Diagonal-Gaussian helpers: closed-form KL, log densities, the ladder's precision merge.

Everything works in log-variance, which can take any real value, so a variance can never go
negative; ``bounded_logvar`` adds a smooth floor and a hard ceiling that keep KLs and likelihoods
finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)
# Largest log-variance bounded_logvar returns. exp(lv) overflows float32 above 88.7, and a KL
# multiplies exp(lv_q) by exp(-lv_p) <= e^9 at the default floor; at 30 (a standard deviation of
# 3e6, far beyond any use) every term stays finite. The shipped models' heads reach 11.6 at most
# (their test pairs), so their outputs are bit-identical with and without the ceiling.
LOGVAR_CEILING = 30.0


def bounded_logvar(raw: torch.Tensor, floor: float, ceiling: float = LOGVAR_CEILING) -> torch.Tensor:
    """Map a raw network output to a log-variance in [``floor``, ``ceiling``].

    The floor is smooth (softplus); the ceiling is a hard clamp, an exact identity below it (a
    softplus ceiling would shift values by rounding), as latent-diffusion VAEs clamp theirs.
    Above the ceiling the gradient is zero; a head gets there only by diverging.
    """
    return (floor + F.softplus(raw - floor)).clamp(max=ceiling)


def kl_normal(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, e^lv_q) || N(mu_p, e^lv_p)) per element, in closed form."""
    return 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-lv_p) - 1.0)


def kl_standard_normal(mu: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^lv) || N(0, 1)) per element."""
    return 0.5 * (lv.exp() + mu.pow(2) - 1.0 - lv)


def log_normal(x: torch.Tensor, mu: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    """log N(x | mu, e^lv) per element."""
    return -0.5 * (LOG_2PI + lv + (x - mu).pow(2) * torch.exp(-lv))


def precision_merge(
    mu_hat: torch.Tensor, lv_hat: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ladder VAE's posterior: the normalised product N(mu_hat, v_hat) N(mu_p, v_p).

    Computed in log-variance (paper eq. 25-26 in the stable form of LVAE's code):
    1/v_q = 1/v_hat + 1/v_p and mu_q = (mu_hat/v_hat + mu_p/v_p) v_q.
    """
    lv_q = -torch.logaddexp(-lv_hat, -lv_p)
    w = torch.sigmoid(lv_p - lv_hat)  # = v_p / (v_hat + v_p), the weight on mu_hat
    return w * mu_hat + (1.0 - w) * mu_p, lv_q


def reparameterise(mu: torch.Tensor, lv: torch.Tensor, generator: torch.Generator | None = None,
                   temperature: float = 1.0) -> torch.Tensor:
    """A draw from N(mu, e^lv) that gradients flow through; ``temperature`` scales its deviation
    from mu (sampling truncation) with the same random numbers drawn."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * lv) * temperature


def log_mean_exp(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])
