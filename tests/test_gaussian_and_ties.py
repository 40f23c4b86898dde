"""Closed-form Gaussian maths and the ties, checked against scipy, numpy and Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from cdvae_core.gaussian import (LOGVAR_CEILING, bounded_logvar, kl_normal, kl_standard_normal, log_normal,
                                 precision_merge)
from cdvae_core.ties import GaussianTie, MDNTie


def test_kl_normal_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu_q, mu_p = rng.normal(size=5), rng.normal(size=5)
    lv_q, lv_p = rng.normal(size=5) * 0.5, rng.normal(size=5) * 0.5
    kl = kl_normal(*(torch.tensor(a) for a in (mu_q, lv_q, mu_p, lv_p))).numpy()
    z = rng.normal(mu_q, np.exp(0.5 * lv_q), size=(400_000, 5))
    mc = (stats.norm.logpdf(z, mu_q, np.exp(0.5 * lv_q)) - stats.norm.logpdf(z, mu_p, np.exp(0.5 * lv_p))).mean(0)
    np.testing.assert_allclose(kl, mc, atol=0.01)
    std = kl_standard_normal(torch.tensor(mu_q), torch.tensor(lv_q)).numpy()
    np.testing.assert_allclose(std, kl_normal(*(torch.tensor(a) for a in (mu_q, lv_q, 0 * mu_q, 0 * lv_q))).numpy())


def test_log_normal_matches_scipy():
    x, mu, lv = torch.tensor([0.3, -2.0]), torch.tensor([0.1, 1.0]), torch.tensor([-1.0, 2.0])
    expected = stats.norm.logpdf(x.numpy(), mu.numpy(), np.exp(0.5 * lv.numpy()))
    np.testing.assert_allclose(log_normal(x, mu, lv).numpy(), expected, rtol=1e-6)


def test_precision_merge_is_the_normalised_product():
    rng = np.random.default_rng(1)
    mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
    lv_a, lv_b = rng.normal(size=6), rng.normal(size=6) * 3  # include very unequal variances
    mu, lv = (t.numpy() for t in precision_merge(*(torch.tensor(a) for a in (mu_a, lv_a, mu_b, lv_b))))
    # the product of two Gaussian densities, evaluated on a grid and normalised numerically
    grid = np.linspace(-12, 12, 200_001)
    for i in range(6):
        dens = stats.norm.pdf(grid, mu_a[i], np.exp(0.5 * lv_a[i])) * stats.norm.pdf(grid, mu_b[i], np.exp(0.5 * lv_b[i]))
        dens /= np.trapezoid(dens, grid)
        mean = np.trapezoid(grid * dens, grid)
        var = np.trapezoid((grid - mean) ** 2 * dens, grid)
        assert mu[i] == pytest.approx(mean, abs=1e-6)
        assert math.exp(lv[i]) == pytest.approx(var, rel=1e-5)


def test_bounded_logvar_has_a_floor_and_a_ceiling_that_keep_float32_finite():
    floor = -9.0
    raw = torch.tensor([-1e4, -30.0, -9.0, 0.0, 11.6, 29.9, 30.5, 89.0, 1e4, 1e30], requires_grad=True)
    lv = bounded_logvar(raw, floor)
    assert lv.dtype == torch.float32 and (lv >= floor).all() and (lv <= LOGVAR_CEILING).all()
    assert torch.isfinite(lv.exp()).all() and torch.isfinite(torch.exp(0.5 * lv)).all()
    assert torch.isfinite(kl_standard_normal(torch.zeros_like(lv), lv)).all()
    assert torch.isfinite(kl_normal(torch.zeros_like(lv), lv, torch.zeros_like(lv), torch.full_like(lv, floor))).all()
    # below the ceiling exactly the smooth floor (bit for bit: the shipped models' outputs must not move)
    smooth = floor + torch.nn.functional.softplus(raw - floor)
    below = smooth < LOGVAR_CEILING
    assert below.sum() == 6 and torch.equal(lv[below], smooth[below])
    lv.sum().backward()
    assert torch.equal(raw.grad[~below], torch.zeros(4))
    assert torch.allclose(raw.grad[below], torch.sigmoid(raw - floor)[below].detach())


def test_gaussian_tie_loss_is_the_expected_penalty():
    torch.manual_seed(0)
    tie = GaussianTie(dim=5, tied=4, sigma_t=0.5)
    mu_c, mu_g = torch.randn(1, 5), torch.randn(1, 5)
    lv_c, lv_g = torch.randn(1, 5) * 0.3, torch.randn(1, 5) * 0.3
    closed = tie.loss(mu_c, lv_c, None, mu_g, lv_g, None).item()
    zc = mu_c + torch.randn(500_000, 5) * (0.5 * lv_c).exp()
    zg = mu_g + torch.randn(500_000, 5) * (0.5 * lv_g).exp()
    mc = ((zg[:, :4] - zc[:, :4]) ** 2).sum(1).mean().item() / (2 * 0.25)
    assert closed == pytest.approx(mc, rel=0.01)


@pytest.mark.parametrize("kind", ["exact", "paper"])
def test_gaussian_tie_conditional(kind):
    s = 0.5
    tie = GaussianTie(dim=3, tied=2, sigma_t=s, conditional=kind)
    z_c = torch.tensor([[1.0, -2.0, 5.0]])
    cond = tie.conditional(z_c)
    draws = cond.sample(200_000, torch.Generator().manual_seed(0))[0].numpy()
    if kind == "exact":
        # exact conditional of N(zc) N(zg) exp(-||zg - zc||^2 / 2 s^2) over the tied part
        mean = np.array([1.0, -2.0]) / (1 + s**2)
        var = s**2 / (1 + s**2)
    else:
        mean, var = np.array([1.0, -2.0]), s**2
    np.testing.assert_allclose(draws[:, :2].mean(0), mean, atol=0.01)
    np.testing.assert_allclose(draws[:, :2].var(0), var, rtol=0.02)
    # untied component ignores z_c: N(0, 1)
    assert draws[:, 2].mean() == pytest.approx(0.0, abs=0.01)
    assert draws[:, 2].var() == pytest.approx(1.0, rel=0.02)


def test_mdn_loss_matches_scipy_mixture():
    torch.manual_seed(0)
    tie = MDNTie(dim=3, mixtures=4, sigma=0.3, hidden=16, conditional="paper")
    z_c, z_g = torch.randn(2, 3), torch.randn(2, 3)
    loss = tie.loss(None, None, z_c, None, None, z_g).detach().numpy()
    mix = tie.mixture(z_c)
    w, mu = mix.log_weights.exp().detach().numpy(), mix.means.detach().numpy()
    for b in range(2):
        comps = [np.log(w[b, k]) + stats.multivariate_normal.logpdf(z_g[b].numpy(), mu[b, k], 0.09 * np.eye(3)) for k in range(4)]
        assert loss[b] == pytest.approx(-logsumexp(comps), rel=1e-5)


def test_mdn_exact_conditional_is_prior_times_mixture():
    torch.manual_seed(1)
    tie = MDNTie(dim=1, mixtures=3, sigma=0.4, hidden=8, conditional="exact")
    z_c = torch.randn(1, 1)
    cond = tie.conditional(z_c)
    raw = tie.mixture(z_c)
    grid = torch.linspace(-6, 6, 20_001)[:, None]
    with torch.no_grad():
        raw_lp = torch.stack([raw.log_prob(g.view(1, 1)) for g in grid[::10]]).squeeze(1).numpy()
        exact_lp = torch.stack([cond.log_prob(g.view(1, 1)) for g in grid[::10]]).squeeze(1).numpy()
    g = grid[::10, 0].numpy()
    unnorm = raw_lp + stats.norm.logpdf(g)
    unnorm -= logsumexp(unnorm) + np.log(g[1] - g[0])
    np.testing.assert_allclose(exact_lp, unnorm, atol=1e-3)


def test_mdn_exact_conditional_in_several_dimensions_matches_quadrature():
    """D = 3: the exact conditional N(z; 0, I) sum_k pi_k N(z; mu_k, s^2 I), normalised, against a
    3-D grid sum (exact to rounding for Gaussians this smooth). Each component's weight is
    reweighted by N(mu_k; 0, (1 + s^2) I), a product over all three dimensions; the means differ
    in every dimension so that reweighting by fewer dimensions, or not at all, is far off."""
    s, D = 0.4, 3
    tie = MDNTie(dim=D, mixtures=4, sigma=s, hidden=8, conditional="exact")
    means = np.array([[2.0, 0.0, 0.0], [0.0, 0.3, 0.5], [1.5, 1.5, -1.5], [-0.5, -1.0, 2.0]])
    logits = np.array([0.3, -0.4, 0.2, 0.1])
    with torch.no_grad():  # fixed mixture, whatever z_c is
        tie.logits.weight.zero_()
        tie.logits.bias.copy_(torch.tensor(logits))
        tie.means.weight.zero_()
        tie.means.bias.copy_(torch.tensor(means.ravel()))
        cond = tie.conditional(torch.randn(1, D))
    pi = np.exp(logits - logsumexp(logits))

    h = 0.1
    axis = np.arange(-6.0, 6.0 + h / 2, h)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, D)  # (G^3, 3)

    def log_iso_normal(z, mu, var):  # log N(z; mu, var I) in D dimensions
        return -0.5 * (D * np.log(2 * np.pi * var) + ((z - mu) ** 2).sum(-1) / var)

    log_prior = log_iso_normal(grid, 0.0, 1.0)
    log_parts = np.stack([np.log(pi[k]) + log_iso_normal(grid, means[k], s**2) + log_prior
                          for k in range(4)])  # (K, G^3): unnormalised mass of each component on the grid
    log_z = logsumexp(log_parts) + D * np.log(h)
    weights = np.exp(logsumexp(log_parts, axis=1) + D * np.log(h) - log_z)
    dens = np.exp(logsumexp(log_parts, axis=0) + D * np.log(h) - log_z)  # grid-cell probabilities
    mean = dens @ grid
    cov = (grid - mean).T @ ((grid - mean) * dens[:, None])

    np.testing.assert_allclose(cond.log_weights[0].exp().numpy(), weights, atol=1e-5)
    # raw pi (0.31, 0.15, 0.28, 0.25) become (0.24, 0.58, 0.07, 0.12); by dimension 0 alone (0.10, 0.28, 0.20, 0.42)
    assert np.abs(weights - pi).max() > 0.4
    got_mean, got_std = cond.moments()
    np.testing.assert_allclose(got_mean[0].numpy(), mean, atol=1e-5)
    np.testing.assert_allclose(got_std[0].numpy() ** 2, np.diag(cov), rtol=1e-4)
    points = np.array([[0.0, 0.0, 0.0], [1.2, -0.3, 0.4], [0.5, 0.5, -0.5], [-0.2, -0.6, 1.3]])
    log_prior_pts = stats.multivariate_normal.logpdf(points, np.zeros(D), np.eye(D))
    expected = logsumexp([np.log(pi[k]) + stats.multivariate_normal.logpdf(points, means[k], s**2 * np.eye(D))
                          for k in range(4)], axis=0) + log_prior_pts - log_z
    got = cond.log_prob(torch.tensor(points, dtype=torch.float32))  # the one row's conditional at 4 points
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-4)
    # and the draws: a sampled mean and covariance within Monte Carlo error of the grid's
    draws = cond.sample(200_000, torch.Generator().manual_seed(0))[0].double().numpy()
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.01)


def test_mdn_component_choice_draws_only_that_component():
    torch.manual_seed(2)
    tie = MDNTie(dim=2, mixtures=4, sigma=0.05, hidden=8)
    cond = tie.conditional(torch.randn(1, 2))
    draws = cond.sample(500, torch.Generator().manual_seed(0), component=2)[0]
    assert torch.allclose(draws.mean(0), cond.means[0, 2], atol=0.01)
    with pytest.raises(ValueError):
        cond.sample(1, component=7)
