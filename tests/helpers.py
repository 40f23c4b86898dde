"""Constants and small builders shared by the core test modules (fixtures live in conftest.py)."""

# The smallest model sizes that still exercise every layer: ModelConfig keyword arguments, also
# written as the "model" part of a --config JSON file.
TINY = dict(latent_sizes=(8, 4), hidden_sizes=(32, 16), conv_channels=(4, 8, 8), mdn_hidden=16, cvae_latent=4)


def motion_predictor(**kw):
    """(config, Predictor, Condition): an untrained motion-shaped model (3 x_c channels, 2 x_g)
    built from ModelConfig keyword arguments, seeded, and one random x_c prepared for it."""
    import numpy as np
    import torch

    from cdvae_core.config import ModelConfig
    from cdvae_core.model import build_model
    from cdvae_core.predictor import Predictor

    torch.manual_seed(0)
    cfg = ModelConfig(channels_c=3, channels_g=2, **kw)
    pred = Predictor(build_model(cfg), task="motion")
    return cfg, pred, pred.prepare(np.random.rand(3, 32, 32).astype(np.float32))


class Terminal:
    """A stand-in for an interactive stderr (monkeypatch ``sys.stderr``): text collected in
    ``buffer``, isatty() True, so the commands draw their progress bars."""

    def __init__(self) -> None:
        import io

        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


DELETE = "<delete>"  # edited_json's value that removes the key


def edited_json(doc: dict, path: tuple, value) -> dict:
    """A deep copy of JSON object ``doc`` with the key at ``path`` (keys into nested objects) set
    to ``value``, or removed for DELETE: a file edited by hand, for bad-input tests."""
    import copy

    edited = copy.deepcopy(doc)
    node = edited
    for key in path[:-1]:
        node = node[key]
    if value == DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return edited
