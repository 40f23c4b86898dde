"""Constants shared by the core test modules (fixtures live in conftest.py)."""

# The smallest model sizes that still exercise every layer: ModelConfig keyword arguments, also
# written as the "model" part of a --config JSON file.
TINY = dict(latent_sizes=(8, 4), hidden_sizes=(32, 16), conv_channels=(4, 8, 8), mdn_hidden=16, cvae_latent=4)
