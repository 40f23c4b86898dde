"""Ties between the top codes z_c and z_g of the two ladder DVAEs (paper section 3.1).

A tie adds F_tie(z_c, z_g) to the joint prior and so a term E_q F_tie to the loss (eq. 2), and
it supplies the conditional p(z_g | z_c) that test-time sampling draws from (eq. 5).

Conditional used for sampling ("exact", the Gaussian tie's default): the normalised conditional of the joint
prior N(z_c; 0, I) N(z_g; 0, I) exp(-F_tie). For the Gaussian tie that is
N(z_c^t / (1 + s^2), s^2 / (1 + s^2)) on tied components and N(0, 1) on untied ones; for the MDN
tie each component is multiplied by N(z_g; 0, I), which shrinks its mean by 1 / (1 + s^2), its
variance to s^2 / (1 + s^2), and reweights it by N(mu_k; 0, (1 + s^2) I). ``conditional="paper"``
uses the paper's N(z_c^t, s^2) and the raw MDN instead (the MDN tie's default, ``ModelConfig``'s
"auto"). Training never uses the conditional (the
loss has no normaliser of exp(-F_tie)): the MDN is fitted by maximum likelihood to the posterior
codes, so its raw mixture already holds their pull to N(0, I) and "exact" counts that prior
twice; measured, "paper" suits the MDN ties better (shipped MDN4s, MDN12s trained like the
results suite's) and "exact" the Gauss ties (docs/model.md, "Conditional used for sampling"),
hence the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .gaussian import LOG_2PI


@dataclass
class CodeConditional:
    """p(z_g | z_c) for a batch: a K-component diagonal mixture (K = 1 for Gaussian and no tie).

    log_weights (B, K), means (B, K, D), log_std (B, K, D).
    """

    log_weights: torch.Tensor
    means: torch.Tensor
    log_std: torch.Tensor

    def component_logprob(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> log pi_k + log N(z | mu_k, s_k^2) summed over D: (B, K)."""
        diff = (z.unsqueeze(1) - self.means) * torch.exp(-self.log_std)
        return self.log_weights + (-0.5 * diff.pow(2) - self.log_std - 0.5 * LOG_2PI).sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_g | z_c) (B,), by logsumexp over components."""
        return torch.logsumexp(self.component_logprob(z), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None, component: int | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """n draws per batch row: (B, n, D). ``component`` restricts every draw to that component;
        ``temperature`` scales each draw's deviation from its component mean (1: the model's own
        spread, 0: the means; the random numbers drawn are the same for every temperature)."""
        B, K, D = self.means.shape
        if component is None:
            idx = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)  # (B, n)
        else:
            if not 0 <= component < K:
                raise ValueError(f"component must lie in 0..{K - 1}, got {component}")
            idx = torch.full((B, n), component, dtype=torch.long, device=self.means.device)
        gather = idx.unsqueeze(-1).expand(B, n, D)
        mu = torch.gather(self.means, 1, gather)
        log_std = torch.gather(self.log_std, 1, gather)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * log_std.exp() * temperature

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of the mixture per component of z_g: (B, D), (B, D)."""
        w = self.log_weights.exp().unsqueeze(-1)  # (B, K, 1)
        mean = (w * self.means).sum(1)
        second = (w * (self.log_std.exp().pow(2) + self.means.pow(2))).sum(1)
        return mean, (second - mean.pow(2)).clamp_min(0).sqrt()


class Tie(nn.Module):
    """Base: no tie. F_tie = 0 and p(z_g | z_c) = N(0, I)."""

    conditional_kind = "exact"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def loss(self, mu_c, lv_c, z_c, mu_g, lv_g, z_g) -> torch.Tensor:
        """E_q F_tie per batch row (B,)."""
        return torch.zeros(mu_c.shape[0], device=mu_c.device, dtype=mu_c.dtype)

    def conditional(self, z_c: torch.Tensor) -> CodeConditional:
        B, D = z_c.shape
        zeros = torch.zeros(B, 1, D, device=z_c.device, dtype=z_c.dtype)
        return CodeConditional(torch.zeros(B, 1, device=z_c.device, dtype=z_c.dtype), zeros, zeros)


class GaussianTie(Tie):
    """F_tie = ||z_g^t - z_c^t||^2 / (2 sigma_t^2) on the first ``tied`` components (eq. 3-4)."""

    def __init__(self, dim: int, tied: int, sigma_t: float, conditional: str = "exact") -> None:
        super().__init__(dim)
        self.tied = tied
        self.sigma_t = sigma_t
        self.conditional_kind = conditional

    def loss(self, mu_c, lv_c, z_c, mu_g, lv_g, z_g) -> torch.Tensor:
        # E_q ||z_g - z_c||^2 in closed form under independent Gaussian posteriors:
        # ||mu_g - mu_c||^2 + sum(var_g) + sum(var_c), over the tied components.
        t = self.tied
        sq = (mu_g[:, :t] - mu_c[:, :t]).pow(2) + lv_g[:, :t].exp() + lv_c[:, :t].exp()
        return sq.sum(1) / (2.0 * self.sigma_t**2)

    def conditional(self, z_c: torch.Tensor) -> CodeConditional:
        B, D = z_c.shape
        t = self.tied
        s2 = self.sigma_t**2
        mean = torch.zeros_like(z_c)
        log_std = torch.zeros_like(z_c)
        if self.conditional_kind == "exact":
            mean[:, :t] = z_c[:, :t] / (1.0 + s2)
            log_std[:, :t] = 0.5 * math.log(s2 / (1.0 + s2))
        else:
            mean[:, :t] = z_c[:, :t]
            log_std[:, :t] = math.log(self.sigma_t)
        return CodeConditional(torch.zeros(B, 1, device=z_c.device, dtype=z_c.dtype), mean[:, None], log_std[:, None])


class MDNTie(Tie):
    """A mixture density network z_c -> (pi_k, mu_k), fixed diagonal sigma (eq. 6-7)."""

    def __init__(self, dim: int, mixtures: int, sigma: float, hidden: int, conditional: str = "paper") -> None:
        super().__init__(dim)
        self.mixtures = mixtures
        self.sigma = sigma
        self.conditional_kind = conditional
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.LeakyReLU(0.1), nn.Linear(hidden, hidden), nn.LeakyReLU(0.1)
        )
        self.logits = nn.Linear(hidden, mixtures)
        self.means = nn.Linear(hidden, mixtures * dim)

    def mixture(self, z_c: torch.Tensor) -> CodeConditional:
        """The raw MDN output as a mixture over z_g: log pi (B, K), mu (B, K, D), log sigma (B, K, D)."""
        h = self.net(z_c)
        log_w = F.log_softmax(self.logits(h), dim=-1)
        mu = self.means(h).view(-1, self.mixtures, self.dim)  # (B, K, D)
        log_std = torch.full_like(mu, math.log(self.sigma))
        return CodeConditional(log_w, mu, log_std)

    def loss(self, mu_c, lv_c, z_c, mu_g, lv_g, z_g) -> torch.Tensor:
        # -E_q log sum_k pi_k N(z_g | mu_k(z_c), sigma^2), one reparameterised draw of (z_c, z_g)
        return -self.mixture(z_c).log_prob(z_g)

    def conditional(self, z_c: torch.Tensor) -> CodeConditional:
        mix = self.mixture(z_c)
        if self.conditional_kind != "exact":
            return mix
        s2 = self.sigma**2
        # component k times N(z; 0, I): mean mu_k / (1 + s2), var s2 / (1 + s2),
        # weight pi_k N(mu_k; 0, (1 + s2) I)
        log_norm = -0.5 * (mix.means.pow(2) / (1.0 + s2) + math.log(1.0 + s2) + LOG_2PI).sum(-1)
        log_w = F.log_softmax(mix.log_weights + log_norm, dim=-1)
        log_std = torch.full_like(mix.means, 0.5 * math.log(s2 / (1.0 + s2)))
        return CodeConditional(log_w, mix.means / (1.0 + s2), log_std)


def build_tie(kind: str, dim: int, tied_fraction: float, sigma_t: float, mixtures: int, mdn_sigma: float,
              mdn_hidden: int, conditional: str) -> Tie:
    if kind == "none":
        return Tie(dim)
    if kind == "gauss":
        return GaussianTie(dim, int(round(tied_fraction * dim)), sigma_t, conditional)
    if kind == "mdn":
        return MDNTie(dim, mixtures, mdn_sigma, mdn_hidden, conditional)
    raise ValueError(f"unknown tie {kind!r}")
