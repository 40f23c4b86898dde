"""cdvae_core: co-embedding deep variational auto-encoders (Lu, Deshpande and Forsyth).

The library holds the whole model and everything around it; it never imports Qt.
"""

__version__ = "0.1.0"
