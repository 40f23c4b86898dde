"""The CDVAE: two ladder DVAEs (x_c and x_g) trained jointly, their top codes tied (paper eq. 2).

Loss per pair (nats): -log p(x_c | z_c) - log p(x_g | z_g) + KL_c + KL_g + E_q F_tie
plus lambda ||mu - p||^2 embedding guidance on both top posterior means (eq. 9). That is the
negative ELBO under the unnormalised joint prior N(z_c) N(z_g) exp(-F_tie): it leaves out
log C(z_c) = log int N(z_g; 0, I) exp(-F_tie) dz_g (< 0), so the logged ``neg_elbo`` is a looser
upper bound (by E_q[-log C], 12-16 nats on the shipped photo models) on the NLL of the model that
is sampled, p(z_c) times the tie's normalised conditional (``log_weights``, ``nll``); with
``xc_orientation`` not even that (``forward``).
Test-time generation needs only x_c: encode it, draw z_g from the tie's conditional, descend
x_g's generative hierarchy and decode (eq. 5). No MCMC.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .gaussian import log_mean_exp, log_normal, reparameterise
from .ladder import LadderDVAE
from .ties import CodeConditional, build_tie
from .units import GScale


class CDVAE(nn.Module):
    supports_nll = True
    has_code_c = True

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg

        def ladder(channels: int, orientation: bool = False) -> LadderDVAE:
            return LadderDVAE(
                channels, cfg.latent_sizes, cfg.hidden_sizes, cfg.conv_channels, cfg.min_logvar, cfg.decoder_min_logvar,
                cfg.top_skip, orientation,
            )

        self.dvae_c = ladder(cfg.channels_c, cfg.xc_orientation)
        self.dvae_g = ladder(cfg.channels_g)
        self.tie = build_tie(
            cfg.tie, cfg.code_dim, cfg.tied_fraction, cfg.sigma_t, cfg.mixtures, cfg.mdn_sigma, cfg.mdn_hidden,
            cfg.tie_conditional,
        )
        self.g_scale = GScale(cfg)

    @property
    def code_dim(self) -> int:
        return self.cfg.code_dim

    def forward(
        self,
        xc: torch.Tensor,
        xg: torch.Tensor,
        target_c: torch.Tensor | None = None,
        target_g: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        guidance_weight: float = 0.0,
        lower_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """xc (B, Cc, 32, 32), xg (B, Cg, 32, 32), targets (B, D) -> scalar loss terms (batch means).

        ``lower_weight`` is the ladder warm-up of ``LadderDVAE.infer`` (1 = the plain ladder VAE).
        ``loss`` charges the top-layer KLs under free bits; ``neg_elbo`` has the true KLs, no
        guidance and beta = 1, but not the tie prior's normaliser (module docstring), and with
        ``xc_orientation`` its ``rec_c`` also scores o(x_c)'s channels, so it is not comparable
        with ``nll`` there.
        """
        pc = self.dvae_c.infer(xc, lower_weight=lower_weight)
        pg = self.dvae_g.infer(self.g_scale.to_model(xg), lower_weight=lower_weight)
        tie = self.tie.loss(pc.top_mu, pc.top_lv, pc.top_z, pg.top_mu, pg.top_lv, pg.top_z)
        kl_c = torch.stack(pc.kl).sum(0)
        kl_g = torch.stack(pg.kl).sum(0)
        rec_c, rec_g = -pc.log_lik, self.g_scale.log_det - pg.log_lik  # rec_g in x_g's own units
        guidance = torch.zeros_like(rec_c)
        if target_c is not None:
            guidance = guidance + (pc.top_mu - target_c).pow(2).sum(1)
        if target_g is not None:
            guidance = guidance + (pg.top_mu - target_g).pow(2).sum(1)
        elbo_loss = rec_c + rec_g + kl_c + kl_g + tie
        # Free bits on the top codes (Kingma et al. 2016): each component's batch-mean KL is charged
        # at least `free_bits` nats, so the first nats through z_L cost nothing. Without it the lower
        # layers carry everything, z_L collapses to the prior and the tie has nothing to tie.
        kl_train_c = kl_c - pc.kl_top_dims.sum(1) + self._charged_top_kl(pc.kl_top_dims)
        kl_train_g = kl_g - pg.kl_top_dims.sum(1) + self._charged_top_kl(pg.kl_top_dims)
        loss = rec_c + rec_g + kl_weight * (kl_train_c + kl_train_g + tie) + guidance_weight * guidance
        terms = {
            "loss": loss.mean(),
            "neg_elbo": elbo_loss.mean(),
            "rec_c": rec_c.mean(),
            "rec_g": rec_g.mean(),
            "kl_c": kl_c.mean(),
            "kl_g": kl_g.mean(),
            "tie": tie.mean(),
            "guidance": guidance.mean(),
        }
        for i, (a, b) in enumerate(zip(pc.kl, pg.kl), start=1):
            terms[f"kl_c_{i}"] = a.mean()
            terms[f"kl_g_{i}"] = b.mean()
        return terms

    def _charged_top_kl(self, kl_dims: torch.Tensor) -> torch.Tensor:
        """(B, D) top-layer KLs -> (B,) the KL charged in training: a component whose batch-mean KL
        is under ``free_bits`` is charged that constant instead (no gradient)."""
        fb = self.cfg.free_bits
        if fb <= 0:
            return kl_dims.sum(1)
        active = kl_dims.mean(0, keepdim=True) >= fb  # (1, D)
        return torch.where(active, kl_dims, torch.full_like(kl_dims, fb)).sum(1)

    # ----- conditional generation -----------------------------------------------------------

    def encode_c(self, xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_c,L | x_c): mean and log-variance (B, D)."""
        return self.dvae_c.encode_top(xc)

    def encode_g(self, xg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_g,L | x_g): mean and log-variance (B, D)."""
        return self.dvae_g.encode_top(self.g_scale.to_model(xg))

    def encode_code_c(self, xc: torch.Tensor) -> torch.Tensor:
        """Posterior mean of the conditioning image's code (B, D): the LPP scatter's points."""
        return self.encode_c(xc)[0]

    def conditional(self, z_c: torch.Tensor) -> CodeConditional:
        """p(z_g | z_c) for z_c (B, D)."""
        return self.tie.conditional(z_c)

    def encode_code_g(self, xg: torch.Tensor) -> torch.Tensor:
        """Posterior mean of the target's code (B, D) for x_g (B, Cg, 32, 32)."""
        return self.encode_g(xg)[0]

    def tie_drift(self, z_c: torch.Tensor, xg: torch.Tensor) -> torch.Tensor:
        """How far x_g's (n, Cg, 32, 32) tied code (posterior mean) sits from the tie's conditional
        given z_c (n or 1, D), in units of its spread: the RMS over tied components, (n,)."""
        return self.code_drift(z_c, self.encode_code_g(xg))

    def code_drift(self, z_c: torch.Tensor, mu_g: torch.Tensor) -> torch.Tensor:
        """``tie_drift`` of a code already encoded: mu_g (n, D) against the conditional given z_c
        (n or 1, D), (n,). Under whichever conditional the tie samples now, so a saved model's
        x_g codes give its training pairs' drift under either (``Predictor.drift_limit``)."""
        t = self.cfg.tied_dims
        mean, std = self.conditional(z_c).moments()
        return ((mu_g[:, :t] - mean[:, :t]) / std[:, :t].clamp_min(1e-6)).pow(2).mean(1).sqrt()

    def draw_codes(
        self,
        xc: torch.Tensor,
        n: int,
        generator: torch.Generator | None = None,
        component: int | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Codes z_g (B, n, D) from p(z_g | x_c) = int p(z_g | z_c) q(z_c | x_c) dz_c."""
        mu_c, lv_c = self.encode_c(xc)
        return self.codes_given(mu_c, lv_c, n, generator, component, temperature)

    def codes_given(
        self,
        mu_c: torch.Tensor,
        lv_c: torch.Tensor,
        n: int,
        generator: torch.Generator | None = None,
        component: int | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``draw_codes`` for an x_c already encoded: q(z_c | x_c) as mean and log-variance (B, D)
        -> z_g (B, n, D). The Studio encodes an image once and resamples from here.

        ``temperature`` (truncation, as in StyleGAN's psi) scales the deviation of both draws, z_c
        from its posterior mean and z_g from its conditional's component mean: 1 is the model's
        conditional, 0 its (component) means. The same random numbers are drawn at every
        temperature, so one seed gives the same samples pulled in or pushed out.
        """
        B, D = mu_c.shape
        z_c = reparameterise(mu_c.repeat_interleave(n, 0), lv_c.repeat_interleave(n, 0), generator,
                             temperature)  # (B n, D)
        z_g = self.conditional(z_c).sample(1, generator, component, temperature)  # (B n, 1, D)
        return z_g.view(B, n, D)

    def decode_g(self, z_g: torch.Tensor, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
        """Top codes (M, D) -> x_g means (M, Cg, 32, 32); lower layers drawn with a generator or
        from fixed standard-normal noise (M, dvae_g.lower_dim), else at their conditional means."""
        return self.g_scale.to_task(self.dvae_g.generate(z_g, generator, noise))

    def sample(self, xc: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Conditional samples (B, n, Cg, 32, 32): every latent layer drawn, decoder means shown."""
        return self.samples_given(*self.encode_c(xc), n, generator)

    def samples_given(self, mu_c: torch.Tensor, lv_c: torch.Tensor, n: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """``sample`` for an x_c already encoded (posterior mean and log-variance (B, D))."""
        codes = self.codes_given(mu_c, lv_c, n, generator)
        out = self.decode_g(codes.flatten(0, 1), generator if generator is not None else torch.default_generator)
        return out.view(mu_c.shape[0], n, *out.shape[1:])

    # ----- likelihood -----------------------------------------------------------------------

    def log_weights(self, xc: torch.Tensor, xg: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One importance weight per pair (B,): log p(x_c, x_g, z) - log q(z | x_c, x_g).

        The model is the one sampled at test time: p(z_c) p(z_g,L | z_c,L) p(z_g lower | z_g,L)
        p(x_c | z_c) p(x_g | z_g), with both ladders' posteriors as the proposal.
        """
        pc = self.dvae_c.infer(xc, generator)
        pg = self.dvae_g.infer(self.g_scale.to_model(xg), generator)
        log_p_top_c = log_normal(pc.top_z, torch.zeros_like(pc.top_z), torch.zeros_like(pc.top_z)).sum(1)
        log_p_top_g = self.conditional(pc.top_z).log_prob(pg.top_z)
        log_lik_g = pg.log_lik - self.g_scale.log_det  # density of x_g in its own units (change of variables)
        # of x_c's own channels: with xc_orientation its ladder also reconstructs o(x_c), whose
        # factorised terms marginalise out
        log_p = pc.log_lik_observed + log_lik_g + log_p_top_c + log_p_top_g + pc.log_p_lower + pg.log_p_lower
        return log_p - pc.log_q - pg.log_q

    @torch.no_grad()
    def nll(self, xc: torch.Tensor, xg: torch.Tensor, k: int = 100, generator: torch.Generator | None = None,
            chunk: int = 50) -> torch.Tensor:
        """Importance-weighted estimate of -log p(x_c, x_g) with k samples per pair: (B,) nats."""
        parts = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            lw = self.log_weights(xc.repeat(m, 1, 1, 1), xg.repeat(m, 1, 1, 1), generator)  # (m B,)
            parts.append(lw.view(m, -1))
        return -log_mean_exp(torch.cat(parts, 0), dim=0)
