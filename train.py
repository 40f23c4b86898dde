"""``python train.py ...`` runs the same command as ``cdvae-train`` (works under torchrun too)."""

from cdvae_core.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
