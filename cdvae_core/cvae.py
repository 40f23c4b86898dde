"""The CVAE baseline (paper section 6.2, after Walker et al.).

An image tower of 5 convolutions summarises x_c; an encoder tower of 5 convolutions maps
(x_g, x_c) to q(z | x_g, x_c); the decoder maps [z, image features] to x_g. Trained with a
pixel-wise L2 loss (a Gaussian of fixed sigma ``cvae_sigma``) plus the KL of q against N(0, I).
At test time z ~ N(0, I). It has no tractable likelihood here, so it reports no NLL.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .gaussian import bounded_logvar, kl_standard_normal, reparameterise
from .ladder import LEAK, ConvDecoder
from .orientation import EXTRA_CHANNELS, OrientationChannels
from .units import GScale


def five_conv_tower(c_in: int) -> nn.Sequential:
    """(B, c_in, 32, 32) -> (B, 128 * 4 * 4) through 5 convolutions (three of them stride 2)."""
    spec = [(c_in, 32, 1), (32, 32, 2), (32, 64, 2), (64, 128, 2), (128, 128, 1)]
    layers: list[nn.Module] = []
    for a, b, stride in spec:
        layers += [nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.LeakyReLU(LEAK)]
    return nn.Sequential(*layers, nn.Flatten())


class CVAE(nn.Module):
    supports_nll = False
    has_code_c = False

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        feat = 256
        # with xc_orientation both towers see x_c's orientation channels, as the CDVAE's x_c encoder does
        self.xc_inputs = OrientationChannels() if cfg.xc_orientation else nn.Identity()
        c_in = cfg.channels_c + (EXTRA_CHANNELS if cfg.xc_orientation else 0)
        self.image_tower = nn.Sequential(five_conv_tower(c_in), nn.Linear(128 * 16, feat), nn.LeakyReLU(LEAK))
        self.encoder_tower = nn.Sequential(
            five_conv_tower(c_in + cfg.channels_g), nn.Linear(128 * 16, feat), nn.LeakyReLU(LEAK)
        )
        self.mu = nn.Linear(feat, cfg.cvae_latent)
        self.lv = nn.Linear(feat, cfg.cvae_latent)
        self.decoder = ConvDecoder(cfg.cvae_latent + feat, 512, cfg.channels_g, cfg.conv_channels)
        self.g_scale = GScale(cfg)

    @property
    def code_dim(self) -> int:
        return self.cfg.cvae_latent

    def image_features(self, xc: torch.Tensor) -> torch.Tensor:
        """(B, Cc, 32, 32) -> (B, 256)."""
        return self.image_tower(self.xc_inputs(xc))

    def forward(self, xc, xg, target_c=None, target_g=None, kl_weight: float = 1.0, guidance_weight: float = 0.0,
                lower_weight: float = 1.0):
        """Loss terms (batch means), with the CDVAE's signature. Guidance targets and the ladder
        warm-up are ignored: the CVAE has no tied codes and no lower latent layers."""
        xg = self.g_scale.to_model(xg)  # cvae_sigma is in model units
        xc_in = self.xc_inputs(xc)  # both towers read the same input: build it once
        h = self.encoder_tower(torch.cat([xg, xc_in], 1))
        mu, lv = self.mu(h), bounded_logvar(self.lv(h), self.cfg.min_logvar)
        z = reparameterise(mu, lv)
        recon = self.decoder(torch.cat([z, self.image_tower(xc_in)], 1))
        rec = (recon - xg).pow(2).flatten(1).sum(1) / (2.0 * self.cfg.cvae_sigma**2)
        kl = kl_standard_normal(mu, lv).sum(1)
        loss = rec + kl_weight * kl
        return {"loss": loss.mean(), "neg_elbo": (rec + kl).mean(), "rec_g": rec.mean(), "kl_g": kl.mean()}

    def draw_codes(self, xc, n: int, generator=None, component=None, temperature: float = 1.0) -> torch.Tensor:
        """z ~ N(0, temperature^2 I): (B, n, D)."""
        z = torch.randn(xc.shape[0], n, self.code_dim, generator=generator, device=xc.device, dtype=xc.dtype)
        return z * temperature

    def decode_with(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Image features (M, 256) and codes (M, D) -> x_g (M, Cg, 32, 32)."""
        return self.g_scale.to_task(self.decoder(torch.cat([z, features], 1)))

    def sample(self, xc: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        B = xc.shape[0]
        z = self.draw_codes(xc, n, generator).flatten(0, 1)  # (B n, D)
        feats = self.image_features(xc).repeat_interleave(n, 0)
        return self.decode_with(feats, z).view(B, n, self.cfg.channels_g, 32, 32)

    def encode_posterior(self, xc: torch.Tensor, xg: torch.Tensor) -> torch.Tensor:
        """Posterior mean code of a true x_g given its x_c: (B, D)."""
        return self.mu(self.encoder_tower(torch.cat([self.g_scale.to_model(xg), self.xc_inputs(xc)], 1)))
