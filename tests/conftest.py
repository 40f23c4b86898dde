"""Test-session settings shared by every test."""

import torch

# One torch thread: on a 2-core machine that something else also uses, two OpenMP threads
# spin against each other and small convolutions run 10-25x slower (measured); one thread keeps
# the suite's time predictable on CI and on developers' machines alike.
torch.set_num_threads(1)
