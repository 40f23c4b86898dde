"""The importance-weighted NLL against the exact likelihood of a tiny CDVAE, by quadrature.

With one-dimensional latent layers the sampled model's marginal
p(x_c, x_g) = int N(zc2) p(zg2 | zc2) [int p(zc1 | zc2) p(x_c | zc1)] [int p(zg1 | zg2) p(x_g | zg1)]
is a few nested 1-D integrals that a dense grid computes exactly enough. The 3-layer case nests
one more, int p(z2 | z3) int p(z1 | z2, z3) p(x | z1) per ladder (z3 enters p(z1 | .) with the top
skip), which checks that log p of every lower layer enters the weight and the skip sees z_L.
"""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from cdvae_core.config import ModelConfig
from cdvae_core.gaussian import log_normal
from cdvae_core.ladder import PIXEL_LOGVAR_SCALE
from cdvae_core.model import build_model


def _inner_log_integral(ladder, x, grid, log_dz):
    """log int p(z1 | z2) p(x | z1) dz1 for every z2 on the grid: (G,)."""
    with torch.no_grad():
        mean = ladder.decoder(grid[:, None])  # (G, C, 32, 32)
        log_lik = log_normal(x, mean, ladder.decoder_logvar()).flatten(1).sum(1)  # (G,)
        mu_p, lv_p = ladder.prior_step(0, grid[:, None])  # (G, 1): prior of z1 given z2 = grid
        log_p = log_normal(grid[None, :], mu_p, lv_p)  # (G z2, G z1)
    return torch.logsumexp(log_p + log_lik[None, :], dim=1).double().numpy() + log_dz


def _quadrature_nll(model, xc, xg, grid, inner_log_integral) -> float:
    """-log p(x_c, x_g) by a 2-D grid sum over the two top codes (1-D each): p(z_c) times the tie's
    conditional p(z_g | z_c) times each ladder's integral over its lower layers (``inner_log_integral``)."""
    log_dz = math.log(float(grid[1] - grid[0]))
    inner_c = inner_log_integral(model.dvae_c, xc, grid, log_dz)
    inner_g = inner_log_integral(model.dvae_g, xg, grid, log_dz)
    with torch.no_grad():
        cond = model.conditional(grid[:, None])  # p(z_g | z_c = grid)
        log_tie = torch.stack([cond.log_prob(torch.full((len(grid), 1), float(v))) for v in grid], 1)  # (z_c, z_g)
    log_prior_c = -0.5 * (grid.double().numpy() ** 2 + math.log(2 * math.pi))
    return -logsumexp(log_prior_c[:, None] + log_tie.double().numpy() + inner_c[:, None] + inner_g[None, :]
                      + 2 * log_dz)


# each tie under both conditionals (the defaults: gauss exact, MDN paper)
@pytest.mark.parametrize("tie, conditional", [("gauss", "exact"), ("gauss", "paper"), ("mdn", "paper"),
                                              ("mdn", "exact")])
def test_iw_nll_matches_quadrature(tie, conditional):
    torch.manual_seed(3)
    cfg = ModelConfig(
        channels_c=1, channels_g=1, latent_sizes=(1, 1), hidden_sizes=(8, 8), conv_channels=(4, 4, 4),
        tie=tie, tied_fraction=1.0, sigma_t=0.7, mixtures=3, mdn_sigma=0.6, mdn_hidden=8,
        tie_conditional=conditional,
    )
    model = build_model(cfg).eval()
    with torch.no_grad():
        for ladder in (model.dvae_c, model.dvae_g):
            ladder.pixel_logvar.fill_(math.log(4.0) / PIXEL_LOGVAR_SCALE)  # flat likelihood: a well-conditioned integral
    xc = torch.rand(1, 1, 32, 32)
    xg = torch.rand(1, 1, 32, 32)

    exact_nll = _quadrature_nll(model, xc, xg, torch.linspace(-7, 7, 701), _inner_log_integral)

    gen = torch.Generator().manual_seed(0)
    estimate = model.nll(xc, xg, k=4000, generator=gen, chunk=500).item()
    # the IW bound is >= the true NLL in expectation and tight for large k
    # float32 sums of 2,048 pixel terms limit agreement to ~1e-5 relative; any wrong term is >> 1 nat
    assert estimate == pytest.approx(exact_nll, abs=0.15)
    one_sample = -model.log_weights(xc, xg, torch.Generator().manual_seed(1)).item()
    assert np.isfinite(one_sample)


def _inner_log_integral_3(ladder, x, grid, log_dz):
    """log int p(z2 | z3) int p(z1 | z2, z3) p(x | z1) dz1 dz2 for every z3 on the grid: (G,)."""
    G = len(grid)
    g = grid.double()
    with torch.no_grad():
        mean = ladder.decoder(grid[:, None])  # (G z1, C, 32, 32)
        log_lik = log_normal(x, mean, ladder.decoder_logvar()).flatten(1).sum(1).double()  # (G z1,)
        z2, z3 = grid.repeat_interleave(G)[:, None], grid.repeat(G)[:, None]  # every (z2, z3), z2-major
        mu1, lv1 = (t.double().view(G, G, 1) for t in ladder.prior_step(0, z2, z3))  # p(z1 | z2, z3): (z2, z3, 1)
        log_p1 = -0.5 * (math.log(2 * math.pi) + lv1 + (g - mu1) ** 2 * torch.exp(-lv1))  # (z2, z3, z1)
        inner1 = torch.logsumexp(log_p1 + log_lik, dim=2) + log_dz  # (z2, z3)
        del log_p1
        mu2, lv2 = (t.double()[:, 0] for t in ladder.prior_step(1, grid[:, None]))  # p(z2 | z3): (z3,)
        log_p2 = -0.5 * (math.log(2 * math.pi) + lv2 + (g[:, None] - mu2) ** 2 * torch.exp(-lv2))  # (z2, z3)
        return (torch.logsumexp(log_p2 + inner1, dim=0) + log_dz).numpy()


@pytest.mark.parametrize("tie, top_skip", [("gauss", False), ("mdn", True)])
def test_iw_nll_of_three_layers_matches_quadrature(tie, top_skip):
    torch.manual_seed(5)
    cfg = ModelConfig(
        channels_c=1, channels_g=1, latent_sizes=(1, 1, 1), hidden_sizes=(8, 8, 8), conv_channels=(4, 4, 4),
        tie=tie, tied_fraction=1.0, sigma_t=0.7, mixtures=3, mdn_sigma=0.6, mdn_hidden=8, top_skip=top_skip,
    )
    model = build_model(cfg).eval()
    with torch.no_grad():
        for ladder in (model.dvae_c, model.dvae_g):
            ladder.pixel_logvar.fill_(math.log(4.0) / PIXEL_LOGVAR_SCALE)
    xc, xg = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)

    exact_nll = _quadrature_nll(model, xc, xg, torch.linspace(-7, 7, 241), _inner_log_integral_3)

    estimate = model.nll(xc, xg, k=4000, generator=torch.Generator().manual_seed(0), chunk=500).item()
    assert estimate == pytest.approx(exact_nll, abs=0.15)


def test_nll_bound_tightens_with_k():
    torch.manual_seed(0)
    model = build_model(ModelConfig(tie="gauss")).eval()
    xc, xg = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    nll_1 = torch.stack([model.nll(xc, xg, k=1, generator=torch.Generator().manual_seed(s)) for s in range(40)]).mean(0)
    nll_100 = model.nll(xc, xg, k=100, generator=torch.Generator().manual_seed(99))
    # E[IW_k] decreases in k (Burda et al.): the 100-sample bound sits below the 1-sample average
    assert (nll_100 <= nll_1 + 1e-3).all()
