"""The ladder DVAE of one image layer (paper appendix 9.1; Sønderby et al.'s LVAE).

Inference is a deterministic bottom-up pass giving (mu_hat_i, lv_hat_i) at every latent layer,
then a stochastic top-down pass that merges each with the generative prior of the layer by
precision weighting. Generation runs the same top-down networks from z_L ~ N(0, I).
Layer indices run 1 (bottom, next to the image) to L (top, "the code").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .gaussian import (
    bounded_logvar,
    kl_normal,
    kl_standard_normal,
    log_normal,
    precision_merge,
    reparameterise,
)
from .orientation import EXTRA_CHANNELS, OrientationChannels

LEAK = 0.1
PIXEL_LOGVAR_SCALE = 20.0


def two_layer_mlp(d_in: int, width: int) -> nn.Sequential:
    """The paper's link between latent layers: two dense layers with leaky ReLUs."""
    return nn.Sequential(nn.Linear(d_in, width), nn.LeakyReLU(LEAK), nn.Linear(width, width), nn.LeakyReLU(LEAK))


class GaussianHead(nn.Module):
    """Dense heads for a diagonal Gaussian: features (B, W) -> mean (B, D), log-variance (B, D)."""

    def __init__(self, width: int, dim: int, min_logvar: float) -> None:
        super().__init__()
        self.mu = nn.Linear(width, dim)
        self.lv = nn.Linear(width, dim)
        self.min_logvar = min_logvar

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(h), bounded_logvar(self.lv(h), self.min_logvar)


class ConvEncoder(nn.Module):
    """(B, C, 32, 32) -> (B, c_last * 4 * 4): stride-2 convolutions 32 -> 16 -> 8 -> 4."""

    def __init__(self, channels: int, conv_channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in conv_channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(LEAK)]
            c_in = c_out
        self.net = nn.Sequential(*layers, nn.Flatten())
        side = 32 // 2 ** len(conv_channels)
        self.out_dim = c_in * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """z_1 (B, D1) -> mean image (B, C, 32, 32), mirroring ConvEncoder."""

    def __init__(self, latent: int, width: int, channels: int, conv_channels: tuple[int, ...]) -> None:
        super().__init__()
        rev = tuple(reversed(conv_channels))
        self.side = 32 // 2 ** len(rev)
        self.c0 = rev[0]
        self.fc = nn.Sequential(
            nn.Linear(latent, width), nn.LeakyReLU(LEAK), nn.Linear(width, rev[0] * self.side**2), nn.LeakyReLU(LEAK)
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip(rev, rev[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(LEAK)]
        layers.append(nn.ConvTranspose2d(rev[-1], channels, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.c0, self.side, self.side)  # (B, c0, 4, 4)
        return self.net(h)


@dataclass
class LadderPass:
    """What one inference pass of a ladder DVAE produced, for a batch of B images.

    Lists run over layers 1..L (index 0 is z_1). ``kl`` holds closed-form per-layer KLs (B,) of the
    lower layers against their top-down priors and of z_L against N(0, I); ``log_q`` and
    ``log_p_lower`` are the log densities of the drawn z under q and under the generative
    conditionals of layers 1..L-1 (used by the importance-weighted NLL).
    """

    z: list[torch.Tensor]
    mu_q: list[torch.Tensor]
    lv_q: list[torch.Tensor]
    kl: list[torch.Tensor]
    log_q: torch.Tensor  # (B,)
    log_p_lower: torch.Tensor  # (B,)
    recon_mean: torch.Tensor  # (B, modelled channels, 32, 32)
    log_lik: torch.Tensor  # (B,) log p(x | z_1) of the modelled layer (with orientation: [x, o(x)]), trained on
    kl_top_dims: torch.Tensor  # (B, D) KL of each top component against N(0, 1)
    log_lik_observed: torch.Tensor  # (B,) log p(x | z_1) of x's own channels: the NLL's term

    @property
    def top_mu(self) -> torch.Tensor:
        return self.mu_q[-1]

    @property
    def top_lv(self) -> torch.Tensor:
        return self.lv_q[-1]

    @property
    def top_z(self) -> torch.Tensor:
        return self.z[-1]


class LadderDVAE(nn.Module):
    """A ladder DVAE over one image layer with ``len(latent_sizes)`` Gaussian latent layers."""

    def __init__(
        self,
        channels: int,
        latent_sizes: tuple[int, ...],
        hidden_sizes: tuple[int, ...],
        conv_channels: tuple[int, ...],
        min_logvar: float,
        decoder_min_logvar: float,
        top_skip: bool = False,
        orientation: bool = False,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.latent_sizes = tuple(latent_sizes)
        self.top_skip = top_skip
        # With ``orientation`` the ladder models [x, o(x)], x and its fixed orientation channels
        # (cdvae_core.orientation): the encoder reads them and the decoder reconstructs them too,
        # which is what makes the code hold orientation (docs/results.md, "Motion"). The decoder
        # factorises over channels, so the density of x alone is the same likelihood without
        # the extra channels' terms (``LadderPass.log_lik_observed``).
        self.inputs = OrientationChannels() if orientation else nn.Identity()
        self.modelled_channels = channels + (EXTRA_CHANNELS if orientation else 0)
        self.encoder = ConvEncoder(self.modelled_channels, conv_channels)
        widths_in = (self.encoder.out_dim,) + tuple(hidden_sizes[:-1])
        self.up = nn.ModuleList(two_layer_mlp(d_in, w) for d_in, w in zip(widths_in, hidden_sizes))
        self.up_heads = nn.ModuleList(GaussianHead(w, d, min_logvar) for w, d in zip(hidden_sizes, latent_sizes))
        # down[i] maps z_{i+2} to the prior of z_{i+1} (0-based: layer i from layer i+1), and with
        # top_skip also z_L (the layer just below z_L sees it anyway)
        self.down = nn.ModuleList(two_layer_mlp(latent_sizes[i + 1] + self._skip_dim(i), hidden_sizes[i])
                                  for i in range(len(latent_sizes) - 1))
        self.down_heads = nn.ModuleList(
            GaussianHead(hidden_sizes[i], latent_sizes[i], min_logvar) for i in range(len(latent_sizes) - 1)
        )
        self.decoder = ConvDecoder(latent_sizes[0], hidden_sizes[0], self.modelled_channels, conv_channels)
        # Learned per-channel decoder log-variance, stored divided by PIXEL_LOGVAR_SCALE: Adam moves a
        # parameter by about lr per step, and the log-variance must travel ~8 nats within a few
        # hundred steps or the reconstruction term stays too weak and the codes collapse.
        self.pixel_logvar = nn.Parameter(torch.zeros(self.modelled_channels))
        self.decoder_min_logvar = decoder_min_logvar

    @property
    def code_dim(self) -> int:
        return self.latent_sizes[-1]

    def decoder_logvar(self) -> torch.Tensor:
        """(C, 1, 1) log-variance of p(x | z_1), floored."""
        return bounded_logvar(PIXEL_LOGVAR_SCALE * self.pixel_logvar, self.decoder_min_logvar).view(-1, 1, 1)

    def bottom_up(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """x (B, C, 32, 32) -> [(mu_hat_i, lv_hat_i) (B, D_i)] for i = 1..L."""
        return self._bottom_up_modelled(self.inputs(x))

    def _bottom_up_modelled(self, x_model: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``bottom_up`` of the modelled layer [x, o(x)] (B, modelled_channels, 32, 32)."""
        h = self.encoder(x_model)
        out = []
        for mlp, head in zip(self.up, self.up_heads):
            h = mlp(h)
            out.append(head(h))
        return out

    def encode_top(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_L | x) = N(mu_hat_L, lv_hat_L): (B, D), (B, D)."""
        return self.bottom_up(x)[-1]

    def _skip_dim(self, i: int) -> int:
        """Extra input of down[i]: z_L's size where top_skip adds it (every layer below L-1), else 0."""
        return self.latent_sizes[-1] if self.top_skip and i < len(self.latent_sizes) - 2 else 0

    def prior_step(self, i: int, z_above: torch.Tensor, z_top: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Generative conditional of layer i (0-based) given z_{i+1} (B, D_{i+1}), and with top_skip
        also z_L (B, D_L): mean, log-variance (B, D_i)."""
        if self._skip_dim(i):
            z_above = torch.cat([z_above, z_top], 1)
        return self.down_heads[i](self.down[i](z_above))

    def infer(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        top_sample: torch.Tensor | None = None,
        lower_weight: float = 1.0,
    ) -> LadderPass:
        """Full inference pass: bottom-up, then the precision-weighted top-down pass.

        ``top_sample`` (B, D) replaces the drawn z_L (the NLL estimator shares it with the tie).
        ``lower_weight`` in [0, 1] scales the precision of the bottom-up evidence at the lower
        layers: 0 makes q(z_i | .) equal the generative conditional, so everything the decoder
        learns must pass through the code z_L (the trainer ramps it from 0 to 1).
        """
        x_model = self.inputs(x)  # (B, modelled_channels, 32, 32)
        ups = self._bottom_up_modelled(x_model)
        L = len(ups)
        mu_top, lv_top = ups[-1]
        z_top = reparameterise(mu_top, lv_top, generator) if top_sample is None else top_sample
        zs, mus, lvs = [z_top], [mu_top], [lv_top]
        kl_top_dims = kl_standard_normal(mu_top, lv_top)
        kls = [kl_top_dims.sum(1)]
        log_q = log_normal(z_top, mu_top, lv_top).sum(1)
        log_p_lower = torch.zeros_like(log_q)
        z_above = z_top
        for i in range(L - 2, -1, -1):
            mu_p, lv_p = self.prior_step(i, z_above, z_top)
            if lower_weight <= 0.0:
                # q is the generative conditional; the bottom-up heads join the graph with zero
                # weight so that DDP sees every parameter used and needs no find_unused_parameters
                # (its extra graph traversal every step, and its warning on every rank)
                mu_q, lv_q = mu_p + 0.0 * ups[i][0], lv_p + 0.0 * ups[i][1]
            else:
                mu_q, lv_q = precision_merge(ups[i][0], ups[i][1] - math.log(min(lower_weight, 1.0)), mu_p, lv_p)
            z = reparameterise(mu_q, lv_q, generator)
            kls.append(kl_normal(mu_q, lv_q, mu_p, lv_p).sum(1))
            log_q = log_q + log_normal(z, mu_q, lv_q).sum(1)
            log_p_lower = log_p_lower + log_normal(z, mu_p, lv_p).sum(1)
            zs.append(z)
            mus.append(mu_q)
            lvs.append(lv_q)
            z_above = z
        recon = self.decoder(zs[-1])
        per_channel = log_normal(x_model, recon, self.decoder_logvar()).flatten(2).sum(2)  # (B, modelled_channels)
        # reverse the top-down lists so index 0 is layer 1
        return LadderPass(zs[::-1], mus[::-1], lvs[::-1], kls[::-1], log_q, log_p_lower, recon, per_channel.sum(1),
                          kl_top_dims, per_channel[:, : self.channels].sum(1))

    @property
    def lower_dim(self) -> int:
        """Components of all layers below z_L together: the length of ``generate``'s noise rows."""
        return sum(self.latent_sizes[:-1])

    def lower_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard-normal noise (n, lower_dim) for ``generate``, drawn layer by layer in the order
        (and so with the same random numbers) that ``generate`` with the same generator would draw."""
        parts = [torch.randn(n, self.latent_sizes[i], generator=generator)
                 for i in range(len(self.latent_sizes) - 2, -1, -1)]
        return torch.cat(parts, 1) if parts else torch.zeros(n, 0)

    def generate(self, z_top: torch.Tensor, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
        """Descend from z_L (B, D) to the mean image (B, C, 32, 32).

        The lower layers are drawn from their conditionals with ``generator``, or from the given
        standard-normal ``noise`` (B, lower_dim) (top-down order: layer L-1's components first),
        z_l = mu_l + sigma_l * noise_l: fixed noise makes the decode a smooth, deterministic
        function of z_L that still shows the model's full sample (the Studio's sliders). With
        neither the lower layers sit at their conditional means.
        """
        if noise is not None and noise.shape != (z_top.shape[0], self.lower_dim):
            raise ValueError(f"noise must have shape ({z_top.shape[0]}, {self.lower_dim}), got {tuple(noise.shape)}")
        z, start = z_top, 0
        for i in range(len(self.latent_sizes) - 2, -1, -1):
            mu_p, lv_p = self.prior_step(i, z, z_top)
            if noise is not None:
                eps = noise[:, start : start + self.latent_sizes[i]]
                start += self.latent_sizes[i]
                z = mu_p + eps * torch.exp(0.5 * lv_p)
            else:
                z = mu_p if generator is None else reparameterise(mu_p, lv_p, generator)
        return self.decoder(z)
