"""The CDVAE and CVAE modules and the Predictor: shapes, loss terms, seeds, conditional sampling."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cdvae_core.config import ConfigError, ModelConfig
from cdvae_core.gaussian import kl_normal
from cdvae_core.model import build_model
from cdvae_core.predictor import Predictor
from helpers import motion_predictor

CONFIGS = [
    dict(tie="gauss"),
    dict(tie="mdn", mixtures=4),
    dict(tie="none"),
    dict(tie="gauss", latent_sizes=(16,), hidden_sizes=(256,)),
    dict(arch="cvae"),
]


@pytest.mark.parametrize("kw", CONFIGS)
def test_forward_terms_and_gradients(kw):
    torch.manual_seed(0)
    cfg = ModelConfig(channels_c=3, channels_g=2, free_bits=0.0, **kw)
    model = build_model(cfg)
    xc, xg = torch.rand(4, 3, 32, 32), torch.rand(4, 2, 32, 32)
    target = torch.randn(4, cfg.code_dim)
    terms = model(xc, xg, target, target, kl_weight=0.3, guidance_weight=2.0)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if cfg.arch == "cdvae":
        parts = terms["rec_c"] + terms["rec_g"] + 0.3 * (terms["kl_c"] + terms["kl_g"] + terms["tie"]) + 2.0 * terms["guidance"]
        assert terms["loss"].item() == pytest.approx(parts.item(), rel=1e-5)
        per_layer = sum(terms[f"kl_c_{i}"] for i in range(1, cfg.layers + 1))
        assert per_layer.item() == pytest.approx(terms["kl_c"].item(), rel=1e-5)
        assert (terms["tie"].item() == 0.0) == (cfg.tie == "none")


def test_free_bits_charge_a_floor_without_gradient():
    torch.manual_seed(0)
    model = build_model(ModelConfig(free_bits=2.0))
    kl = torch.tensor([[0.1, 3.0], [0.3, 5.0]], requires_grad=True)  # (B=2, D=2)
    charged = model._charged_top_kl(kl)
    # component 0 averages 0.2 < 2 -> charged 2 per row, no gradient; component 1 averages 4 -> as is
    assert torch.allclose(charged, torch.tensor([5.0, 7.0]))
    charged.sum().backward()
    assert torch.equal(kl.grad, torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    xc, xg = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    terms = model(xc, xg)
    # the training loss charges at least the true KL, so it never falls below neg_elbo
    assert terms["loss"].item() >= terms["neg_elbo"].item() - 1e-3


def test_guidance_pulls_codes_to_targets():
    torch.manual_seed(0)
    model = build_model(ModelConfig(conv_channels=(4, 4, 4), latent_sizes=(16,), hidden_sizes=(32,)))
    levels = torch.linspace(0.05, 0.95, 8).view(8, 1, 1, 1)
    xc = levels.expand(8, 1, 32, 32).clone()  # eight easily told apart images
    xg = xc.flip(0)
    target = torch.randn(8, 16)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(150):
        terms = model(xc, xg, target, target, kl_weight=0.0, guidance_weight=100.0)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = first if first is not None else terms["guidance"].item()
    assert terms["guidance"].item() < 0.5 * first


def test_samples_are_seeded_and_shaped():
    torch.manual_seed(0)
    model = build_model(ModelConfig(tie="mdn", channels_c=3, channels_g=2)).eval()
    xc = torch.rand(3, 3, 32, 32)
    a = model.sample(xc, 5, torch.Generator().manual_seed(4))
    b = model.sample(xc, 5, torch.Generator().manual_seed(4))
    c = model.sample(xc, 5, torch.Generator().manual_seed(5))
    assert a.shape == (3, 5, 2, 32, 32)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("sigma_t", [0.1, 0.5])
def test_gaussian_tie_conditions_on_the_image_code(sigma_t):
    """Tied components of drawn codes follow the image's code through the exact conditional
    N(z_c^t / (1 + s^2), s^2 / (1 + s^2)); untied ones do not.

    The posterior of z_c is set to codes of up to 3: an untrained encoder gives codes near 0,
    where the shrinkage 1 / (1 + s^2) cannot be told from the paper's N(z_c^t, s^2). At s = 0.1
    the two means differ by up to 0.03, 18 standard errors of the mean of 20,000 draws (their
    variances by 1.8%, 6 standard errors of the mean ratio); at the default s = 0.5 the variance
    alone (s^2 / (1 + s^2) = 0.2 against s^2 = 0.25) moves the drawn variance by 22%.
    """
    torch.manual_seed(0)
    cfg = ModelConfig(sigma_t=sigma_t)
    model = build_model(cfg).eval()
    pred = Predictor(model)
    D, t, s2 = cfg.code_dim, cfg.tied_dims, sigma_t**2
    mu_c = torch.linspace(-3.0, 3.0, D)[None]  # (1, D)
    var_c = 0.04
    cond = replace(pred.prepare(np.random.rand(1, 32, 32).astype(np.float32)),
                   mu_c=mu_c, lv_c=torch.full((1, D), float(np.log(var_c))))
    n = 20_000
    codes = pred.draw_codes(cond, n, seed=0).astype(np.float64)  # (n, D)
    # z_g^t = z_c^t / (1 + s^2) + N(0, s^2 / (1 + s^2)), with z_c ~ N(mu_c, var_c)
    mean = mu_c[0, :t].numpy() / (1 + s2)
    var = var_c / (1 + s2) ** 2 + s2 / (1 + s2)
    np.testing.assert_allclose(codes[:, :t].mean(0), mean, atol=4 * np.sqrt(var / n))
    # a sample variance has relative sd sqrt(2 / n) = 1%, the mean of t of them 1% / sqrt(t)
    ratio = codes[:, :t].var(0) / var
    np.testing.assert_allclose(ratio, 1.0, atol=4 * np.sqrt(2 / n))
    assert abs(ratio.mean() - 1.0) < 3 * np.sqrt(2 / n / t)
    np.testing.assert_allclose(codes[:, t:].mean(0), 0.0, atol=4 * np.sqrt(1 / n))
    np.testing.assert_allclose(codes[:, t:].var(0), 1.0, atol=4 * np.sqrt(2 / n))


@pytest.mark.parametrize("kw", [dict(tie="gauss"), dict(tie="mdn", mixtures=12), dict(arch="cvae")])
def test_predictor_api(kw):
    cfg, pred, cond = motion_predictor(**kw)
    codes = pred.draw_codes(cond, 16, seed=7)
    assert codes.shape == (16, cfg.code_dim)
    np.testing.assert_array_equal(codes, pred.draw_codes(cond, 16, seed=7))
    images = pred.decode(cond, codes)
    assert images.shape == (16, 2, 32, 32) and images.dtype == np.float32
    # decoding is deterministic, so one code decodes the same alone or in a batch
    np.testing.assert_allclose(pred.decode(cond, codes[3:4])[0], images[3], atol=1e-5)
    assert pred.sample(cond, 4, seed=1).shape == (4, 2, 32, 32)
    # the prepared condition is reused, not re-encoded: same draws as the module's own sampler
    with torch.inference_mode():
        gen = torch.Generator().manual_seed(1)
        direct = pred.model.sample(cond.xc, 4, gen)[0].numpy()
    np.testing.assert_allclose(pred.sample(cond, 4, seed=1), direct, atol=1e-6)
    assert pred.encode_target(cond, images[0]).shape == (cfg.code_dim,)
    mean, std = pred.code_stats(cond)
    assert mean.shape == std.shape == (cfg.code_dim,) and (std > 0).all()
    if pred.mixtures:
        w, means = pred.mixture(cond)
        assert w.shape == (12,) and means.shape == (12, cfg.code_dim)
        assert w.sum() == pytest.approx(1.0, abs=1e-5)
        one = pred.draw_codes(cond, 8, seed=0, component=5)
        assert np.abs(one.mean(0) - means[5] / (1 + cfg.mdn_sigma**2)).max() < 3 * cfg.mdn_sigma
        # the scatter plot's colouring: the image's own code gets its weights' arg-max, in any batching
        own = pred.code_of_condition(cond)
        assert pred.mixture_components(own[None])[0] == int(np.argmax(w))
        many = np.random.default_rng(0).normal(size=(10, cfg.code_dim)).astype(np.float32)
        np.testing.assert_array_equal(pred.mixture_components(many, batch=3), pred.mixture_components(many))
    else:
        with pytest.raises(ValueError):
            pred.mixture(cond)
        with pytest.raises(ValueError):
            pred.mixture_components(np.zeros((2, cfg.code_dim), np.float32))
    with pytest.raises(ValueError):
        pred.prepare(np.zeros((1, 32, 32), np.float32))


@pytest.mark.parametrize("kw", [dict(tie="gauss"), dict(tie="mdn", mixtures=4), dict(arch="cvae")])
def test_draw_and_decode_with_lower_noise_is_the_full_sample(kw):
    """A sample is its code plus one standard-normal draw per lower latent unit: decoding both
    gives Predictor.sample's picture for the same seed, bit for bit; zero noise is the means decode."""
    cfg, pred, cond = motion_predictor(**kw)
    codes, noise = pred.draw(cond, 8, seed=3)
    want_dim = 0 if kw.get("arch") == "cvae" else sum(cfg.latent_sizes[:-1])
    assert pred.noise_dim == want_dim and noise.shape == (8, want_dim) and noise.dtype == np.float32
    np.testing.assert_array_equal(codes, pred.draw_codes(cond, 8, seed=3))
    np.testing.assert_array_equal(pred.decode(cond, codes, noise), pred.sample(cond, 8, seed=3))
    np.testing.assert_array_equal(pred.decode(cond, codes, np.zeros_like(noise)), pred.decode(cond, codes))
    # the temperature scales the same noise, as it scales the codes
    _, cool = pred.draw(cond, 8, seed=3, temperature=0.5)
    np.testing.assert_allclose(cool, 0.5 * noise, atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        pred.decode(cond, codes, noise[:, :-1] if want_dim else np.zeros((8, 1), np.float32))
    # codes of another shape are refused, not reshaped into some other count of codes
    d = cfg.code_dim
    for bad_codes in (codes.reshape(-1), codes.reshape(-1, 2), codes[:, :-1], codes.reshape(2, 4, d)):
        with pytest.raises(ValueError, match=rf"codes must have shape \(n, {d}\)"):
            pred.decode(cond, bad_codes)
    nan_code = codes.copy()
    nan_code[1, 0] = np.inf
    with pytest.raises(ValueError, match="codes contain NaN or infinite"):
        pred.decode(cond, nan_code)
    xg_true = pred.decode(cond, codes[:1])[0]
    assert pred.encode_target(cond, xg_true).shape == (d,)
    for bad_xg in (xg_true[None], xg_true[:, :16], np.full_like(xg_true, np.nan)):
        with pytest.raises(ValueError, match="true x_g"):
            pred.encode_target(cond, bad_xg)
    if want_dim:
        bad = noise.copy()
        bad[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            pred.decode(cond, codes, bad)
        # one row decodes the same alone or in a batch, and the noise is what moves it
        np.testing.assert_allclose(pred.decode(cond, codes[2:3], noise[2:3])[0], pred.decode(cond, codes, noise)[2],
                                   atol=1e-5)
        assert not np.allclose(pred.decode(cond, codes[:1], noise[1:2]), pred.decode(cond, codes[:1], noise[:1]))


@pytest.mark.parametrize("kw", [dict(tie="gauss"), dict(tie="mdn", mixtures=4), dict(arch="cvae")])
def test_component_effects_are_each_components_move_of_the_sample(kw):
    """Predictor.component_effects: per component, the mean |x_g(z_i + 1) - x_g(z_i - 1)| / 2 at
    the conditional mean (or a given code), lower layers at their means."""
    cfg, pred, cond = motion_predictor(**kw)
    effects = pred.component_effects(cond)
    assert effects.shape == (cfg.code_dim,) and effects.dtype == np.float32 and (effects >= 0).all()
    code = np.random.default_rng(1).normal(size=cfg.code_dim).astype(np.float32)
    for base, got in ((pred.code_stats(cond)[0], effects), (code, pred.component_effects(cond, code))):
        for i in (0, cfg.code_dim - 1):
            lo, hi = base.copy(), base.copy()
            lo[i] -= 1.0
            hi[i] += 1.0
            want = np.abs(pred.decode(cond, hi[None]) - pred.decode(cond, lo[None])).mean() / 2.0
            assert got[i] == pytest.approx(want, rel=1e-4, abs=1e-7)
    with pytest.raises(ValueError, match="codes must have shape"):
        pred.component_effects(cond, code[:-1])


def test_generate_with_noise_is_the_reparameterised_descent():
    """LadderDVAE.generate with noise: z_l = mu_l + exp(lv_l / 2) * noise_l layer by layer, from
    the top (an independent recomputation through prior_step)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(channels_c=1, channels_g=1, tie="gauss"))
    ladder = model.dvae_g
    z_top = torch.randn(5, ladder.latent_sizes[-1])
    noise = torch.randn(5, ladder.lower_dim)
    with torch.no_grad():
        z, start = z_top, 0
        assert len(ladder.latent_sizes) == 3
        for i in (1, 0):  # layers 2 and 1 below the top
            mu, lv = ladder.prior_step(i, z)
            z = mu + torch.exp(0.5 * lv) * noise[:, start : start + ladder.latent_sizes[i]]
            start += ladder.latent_sizes[i]
        torch.testing.assert_close(ladder.generate(z_top, noise=noise), ladder.decoder(z))
        with pytest.raises(ValueError, match="noise must have shape"):
            ladder.generate(z_top, noise=noise[:, 1:])


def test_top_skip_gives_every_lower_prior_the_code():
    """top_skip: p(z_i | z_{i+1}, z_L). The descent recomputed through prior_step with z_L; with
    z_2 held, z_1's prior moves with z_L (without the skip it cannot); z_2's prior, whose layer
    above is z_L itself, takes z_L once."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(channels_c=1, channels_g=1, tie="mdn", top_skip=True))
    ladder = model.dvae_g
    assert ladder.down[0][0].in_features == 32 + 16 and ladder.down[1][0].in_features == 16
    z_top, noise = torch.randn(5, 16), torch.randn(5, ladder.lower_dim)
    with torch.no_grad():
        mu2, lv2 = ladder.prior_step(1, z_top, z_top)
        z2 = mu2 + torch.exp(0.5 * lv2) * noise[:, :32]
        mu1, lv1 = ladder.prior_step(0, z2, z_top)
        z1 = mu1 + torch.exp(0.5 * lv1) * noise[:, 32:]
        torch.testing.assert_close(ladder.generate(z_top, noise=noise), ladder.decoder(z1))
        # the same z_2 under another code: z_1's prior follows the code
        other = ladder.prior_step(0, z2, torch.randn(5, 16))[0]
        assert (other - mu1).abs().max() > 1e-3
        # and the inference pass uses the same priors: its KL of z_1 is against p(z_1 | z_2, z_L)
        xg = torch.rand(5, 1, 32, 32)
        p = ladder.infer(xg, generator=torch.Generator().manual_seed(1))
        mu_p, lv_p = ladder.prior_step(0, p.z[1], p.z[2])
        torch.testing.assert_close(p.kl[0], kl_normal(p.mu_q[0], p.lv_q[0], mu_p, lv_p).sum(1))
    plain = build_model(ModelConfig(channels_c=1, channels_g=1, tie="mdn")).dvae_g
    assert plain.down[0][0].in_features == 32
    for bad in (dict(top_skip=True, latent_sizes=(32, 16), hidden_sizes=(64, 32)), dict(top_skip=True, arch="cvae")):
        with pytest.raises(ConfigError, match="top_skip needs"):
            ModelConfig(**bad)
    # a config saved before the setting existed loads as the plain ladder
    saved = ModelConfig().to_dict()
    del saved["top_skip"]
    assert ModelConfig.from_dict(saved).top_skip is False


def test_config_rejects_unknown_and_bad_settings():
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({"tie": "gauss", "sigma_tt": 1.0})
    with pytest.raises(ConfigError):
        ModelConfig(tie="flow")
    with pytest.raises(ConfigError):
        ModelConfig(latent_sizes=(8, 4), hidden_sizes=(16,))
    # found by editing every setting of a --config file (session 18): NaN trained without a word,
    # the huge ones overflowed (OverflowError, RuntimeError), an unknown task made a model no command could use
    for bad, message in ((dict(sigma_t=float("nan")), "sigma_t, mdn_sigma, cvae_sigma and g_scale must be positive"),
                         (dict(sigma_t=1e308), "at most 1e6"), (dict(free_bits=1e308), "free_bits must lie in"),
                         (dict(min_logvar=-1e308), "min_logvar and decoder_min_logvar must lie in"),
                         (dict(task="deblurring"), "task must be one of relighting, resaturation, motion or synthetic"),
                         (dict(channels_g=2**70), "channels_c and channels_g at most 64")):
        with pytest.raises(ConfigError, match=message):
            ModelConfig(**bad)
    cfg = ModelConfig(tie="mdn", mixtures=12)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.display_name == "MDN K=12" and cfg.tied_dims == cfg.code_dim
    assert ModelConfig(latent_sizes=(16,), hidden_sizes=(256,)).display_name == "Shallow"


def test_ladder_warmup_routes_everything_through_the_code():
    """With lower_weight 0 the lower posteriors equal their priors: their KLs vanish exactly."""
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    xc, xg = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    closed = model(xc, xg, lower_weight=0.0)
    assert abs(closed["kl_c_1"].item()) < 1e-5 and abs(closed["kl_g_2"].item()) < 1e-5
    assert closed["kl_c_3"].item() > 0.0
    half = model(xc, xg, lower_weight=0.5)
    assert half["kl_c_1"].item() > 0.0


@pytest.mark.parametrize("tie", ["none", "gauss", "mdn"])
def test_every_parameter_gets_a_gradient_even_at_lower_weight_zero(tie):
    """DDP runs without find_unused_parameters (its extra traversal each step, and a warning on
    every rank): that holds only if every parameter is in the graph, even the ladder's bottom-up
    heads at the first step of the warm-up, whose gradient is then exactly zero."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(tie=tie))
    xc, xg = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    target = torch.randn(4, model.cfg.code_dim)
    model(xc, xg, target_c=target, target_g=target, lower_weight=0.0)["loss"].backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    heads = [p.grad for name, p in model.named_parameters() if "up_heads.0" in name]
    assert heads and all(torch.count_nonzero(g) == 0 for g in heads)  # in the graph, with no pull


@pytest.mark.parametrize("arch", ["cdvae", "cvae"])
def test_g_scale_is_a_change_of_units(arch):
    """A model with g_scale s on x_g * s is the same model as g_scale 1 on x_g: outputs scale by s
    and the density of x_g gains the Jacobian -D log s (D = Cg 32 32)."""
    torch.manual_seed(0)
    kw = dict(arch=arch, tie="gauss" if arch == "cdvae" else "none", channels_c=3, channels_g=2)
    unit, scaled = build_model(ModelConfig(**kw)), build_model(ModelConfig(g_scale=8.0, **kw))
    scaled.load_state_dict(unit.state_dict())
    unit.eval(), scaled.eval()
    xc, xg = torch.rand(3, 3, 32, 32), torch.rand(3, 2, 32, 32) - 0.5
    z = torch.randn(5, unit.code_dim)
    with torch.no_grad():
        if arch == "cvae":
            feats = unit.image_features(xc[:1]).expand(5, -1)
            torch.testing.assert_close(scaled.decode_with(feats, z), 8.0 * unit.decode_with(feats, z))
            torch.testing.assert_close(scaled.encode_posterior(xc, 8 * xg), unit.encode_posterior(xc, xg))
            return
        torch.testing.assert_close(scaled.decode_g(z), 8.0 * unit.decode_g(z))
        torch.testing.assert_close(scaled.encode_g(8 * xg)[0], unit.encode_g(xg)[0])
        jacobian = 2 * 32 * 32 * np.log(8.0)
        a = unit.nll(xc, xg, k=20, generator=torch.Generator().manual_seed(3))
        b = scaled.nll(xc, 8 * xg, k=20, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(b, a + jacobian, rtol=0, atol=1e-2)
        torch.manual_seed(1)
        ta = unit(xc, xg)
        torch.manual_seed(1)
        tb = scaled(xc, 8 * xg)
        torch.testing.assert_close(tb["rec_g"], ta["rec_g"] + jacobian, rtol=0, atol=1e-2)
        torch.testing.assert_close(tb["kl_g"], ta["kl_g"])


def test_tasks_set_g_scale_for_new_models(tmp_path):
    from cdvae_core.checkpoint import CONFIG_FILE
    from cdvae_core.config import TrainConfig
    from cdvae_core.experiments.runner import finished_run
    from cdvae_core.experiments.suite import model_config

    motion = model_config("Gauss", "motion", (3, 2))
    assert motion.g_scale == 8.0 and model_config("Gauss", "relighting", (3, 1)).g_scale == 1.0
    assert model_config("CVAE", "motion", (3, 2)).cvae_sigma == pytest.approx(0.2)  # span 16 px/s = 2 model units
    # a run saved before g_scale existed is the same run at the default scale
    cfg = model_config("Gauss", "relighting", (3, 1))
    saved = {k: v for k, v in cfg.to_dict().items() if k != "g_scale"}
    train_cfg = TrainConfig(epochs=1)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"model": saved, "training": train_cfg.to_dict()}))
    for name in ("weights.safetensors", "embedding.safetensors"):
        (tmp_path / name).write_text("")
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    assert finished_run(tmp_path, cfg, train_cfg)
    assert not finished_run(tmp_path, ModelConfig.from_dict({**cfg.to_dict(), "g_scale": 2.0}), train_cfg)


def test_the_conditional_defaults_per_tie_and_is_named_in_the_config():
    """MDN samples from the raw MDN by default, the Gaussian tie from the exact conditional
    (docs/model.md); a saved config names the one chosen."""
    assert ModelConfig(tie="mdn").tie_conditional == "paper"
    assert ModelConfig(tie="gauss").tie_conditional == ModelConfig(tie="none").tie_conditional == "exact"
    assert ModelConfig(tie="mdn", tie_conditional="exact").tie_conditional == "exact"
    assert ModelConfig.from_dict({"tie": "mdn"}).to_dict()["tie_conditional"] == "paper"
    with pytest.raises(ConfigError, match="tie_conditional must be 'exact', 'paper' or 'auto', got 'raw'"):
        ModelConfig(tie_conditional="raw")
    # the Studio's model tooltip says which one draws the codes, and whether it is the tie's default
    assert ModelConfig(tie="mdn").conditional_text == ('Codes are drawn from the raw MDN p(z_g | z_c): '
                                                       'tie_conditional "paper" in config.json (the tie\'s default)')
    assert "MDN times N(0, I)" in ModelConfig(tie="mdn", tie_conditional="exact").conditional_text
    assert "default" not in ModelConfig(tie="gauss", tie_conditional="paper").conditional_text
    assert ModelConfig(arch="cvae").conditional_text == ModelConfig(tie="none").conditional_text == ""
    # cdvae-eval --conditional: a loaded model switched as its config.json would switch it
    mdn = Predictor(build_model(ModelConfig(tie="mdn", channels_c=3)))
    mdn.use_conditional("exact")
    assert mdn.model.tie.conditional_kind == mdn.config.tie_conditional == mdn.model.cfg.tie_conditional == "exact"
    for cfg in (ModelConfig(arch="cvae", channels_c=3), ModelConfig(tie="none", channels_c=3)):
        with pytest.raises(ValueError, match="has no tie, so no conditional to choose"):
            Predictor(build_model(cfg)).use_conditional("paper")
        with pytest.raises(ValueError, match="has no tie, so no conditional to choose"):
            Predictor(build_model(cfg)).with_conditional("exact")
    # the Studio's switch: a copy sampling with the other, the original untouched (a job may still
    # be drawing from it), and drawing what the model edited in place draws
    torch.manual_seed(0)
    paper = Predictor(build_model(ModelConfig(tie="mdn", channels_c=3)))
    edited = copy.deepcopy(paper)
    edited.use_conditional("exact")
    cond = paper.prepare(np.random.default_rng(0).random((3, 32, 32), dtype=np.float32))
    before = paper.draw_codes(cond, 8, seed=3)
    exact = paper.with_conditional("exact")
    assert (paper.config.tie_conditional, exact.config.tie_conditional, exact.saved_conditional) == \
        ("paper", "exact", "paper")
    assert paper.with_conditional("paper") is paper and exact.embedding is paper.embedding
    np.testing.assert_array_equal(paper.draw_codes(cond, 8, seed=3), before)
    drawn = exact.draw_codes(exact.prepare(cond.xc[0].numpy()), 8, seed=3)
    np.testing.assert_array_equal(drawn, edited.draw_codes(edited.prepare(cond.xc[0].numpy()), 8, seed=3))
    assert not np.allclose(drawn, before)


@pytest.mark.parametrize("kw", [dict(tie="gauss"), dict(tie="mdn", mixtures=4), dict(arch="cvae")])
def test_temperature_scales_the_spread_of_the_same_draws(kw):
    torch.manual_seed(0)
    cfg = ModelConfig(channels_c=3, channels_g=1, **kw)
    pred = Predictor(build_model(cfg))
    cond = pred.prepare(np.random.rand(3, 32, 32).astype(np.float32))
    one = pred.draw_codes(cond, 64, seed=5)
    np.testing.assert_array_equal(one, pred.draw_codes(cond, 64, seed=5, temperature=1.0))  # the default
    zero = pred.draw_codes(cond, 64, seed=5, temperature=0.0)
    half = pred.draw_codes(cond, 64, seed=5, temperature=0.5)
    if kw.get("tie") == "mdn":
        # same components chosen at every temperature; at 0 each code is its component's mean
        _, means = pred.mixture(cond)  # (K, D) at the image's mean code
        assert all(np.abs(means - z).max(1).min() < 1e-5 for z in zero)
        assert np.abs(half - zero).mean() < np.abs(one - zero).mean()
    else:
        # the Gaussian tie and the CVAE are linear in the noise: the draw moves exactly halfway
        np.testing.assert_allclose(half - zero, 0.5 * (one - zero), atol=1e-5)
        mean, _ = pred.code_stats(cond)
        np.testing.assert_allclose(zero, np.broadcast_to(mean, zero.shape), atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        pred.draw_codes(cond, 4, seed=5, temperature=-0.1)


@pytest.mark.parametrize("arch", ["cdvae", "cvae"])
def test_xc_orientation_feeds_the_x_c_encoders(arch):
    """With xc_orientation every encoder of x_c sees [x_c, o(x_c)], its two orientation channels;
    the CDVAE's x_c ladder also reconstructs them, the NLL keeps x_c's own channels only, and the
    filters add nothing to the weights."""
    from cdvae_core.gaussian import log_normal
    from cdvae_core.orientation import OrientationChannels

    torch.manual_seed(0)
    kw = dict(arch=arch, tie="gauss" if arch == "cdvae" else "none", channels_c=3, channels_g=2)
    plain, oriented = build_model(ModelConfig(**kw)), build_model(ModelConfig(xc_orientation=True, **kw))
    a, b = plain.state_dict(), oriented.state_dict()
    assert a.keys() == b.keys()
    grown = {k: b[k].shape[:2] for k in a if a[k].shape != b[k].shape}
    xc, xg = torch.rand(2, 3, 32, 32), torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        x_model = torch.cat([xc, OrientationChannels().orientation(xc)], 1)
    seen = []
    if arch == "cdvae":
        assert grown == {"dvae_c.encoder.net.0.weight": (16, 5), "dvae_c.decoder.net.4.weight": (16, 5),
                         "dvae_c.decoder.net.4.bias": (5,), "dvae_c.pixel_logvar": (5,)}
        ladder = oriented.dvae_c
        ladder.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        with torch.no_grad():
            out = ladder.infer(xc, torch.Generator().manual_seed(0))
            per_channel = log_normal(x_model, out.recon_mean, ladder.decoder_logvar()).flatten(2).sum(2)
        assert out.recon_mean.shape == (2, 5, 32, 32)
        torch.testing.assert_close(out.log_lik, per_channel.sum(1))
        torch.testing.assert_close(out.log_lik_observed, per_channel[:, :3].sum(1))
        # the NLL's weights use x_c's own channels: with the orientation channels' density made
        # very wide their training term changes and the weights do not
        with torch.no_grad():
            before = oriented.log_weights(xc, xg, torch.Generator().manual_seed(1))
            ladder.pixel_logvar[3:] = 0.4
            after = oriented.log_weights(xc, xg, torch.Generator().manual_seed(1))
            changed = ladder.infer(xc, torch.Generator().manual_seed(0))
        assert (changed.log_lik - out.log_lik).abs().min() > 1.0
        torch.testing.assert_close(changed.log_lik_observed, out.log_lik_observed)
        torch.testing.assert_close(after, before)
    else:
        assert grown == {"image_tower.0.0.weight": (32, 5), "encoder_tower.0.0.weight": (32, 7)}
        oriented.image_tower.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        with torch.no_grad():
            oriented.image_features(xc)
    torch.testing.assert_close(seen[0], x_model)
    with torch.no_grad():
        terms = oriented(xc, xg)
    assert all(torch.isfinite(v) for v in terms.values())


def test_motion_models_default_to_orientation_inputs():
    """The task sets it for new models (the train CLI: tests/test_cli.py); saved models without it
    load without it."""
    from cdvae_core.experiments.suite import model_config
    from cdvae_core.tasks import model_defaults

    assert model_defaults("motion") == {"g_scale": 8.0, "xc_orientation": True}
    assert model_defaults("relighting") == {"g_scale": 1.0, "xc_orientation": False}
    assert model_defaults("synthetic") == {"g_scale": 1.0, "xc_orientation": False}
    assert model_config("CVAE", "motion", (3, 2)).xc_orientation
    assert not model_config("Gauss", "resaturation", (1, 1)).xc_orientation
    assert not ModelConfig.from_dict({"task": "motion", "channels_c": 3, "channels_g": 2}).xc_orientation


def test_train_defaults_hold_motions_guidance():
    from cdvae_core.tasks import train_defaults

    assert train_defaults("motion", {}, 3) == train_defaults("motion", {}, 2) == {"guidance_start": 30.0,
                                                                                 "guidance_end": 30.0}
    assert train_defaults("motion", {"guidance_start": 5.0}, 3) == {"guidance_start": 5.0, "guidance_end": 5.0}
    assert train_defaults("motion", {"guidance_end": 2.0}, 3) == {"guidance_start": 30.0, "guidance_end": 2.0}
    assert train_defaults("motion", {}, 1) == {}  # the Shallow CDVAE keeps the decay
    assert train_defaults("relighting", {}, 3) == train_defaults("synthetic", {}, 3) == {}
