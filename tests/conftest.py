"""Test-session settings and fixtures shared by every test."""

import pytest
import torch

# One torch thread: on a 2-core machine that something else also uses, two OpenMP threads
# spin against each other and small convolutions run 10-25x slower (measured); one thread keeps
# the suite's time predictable on CI and on developers' machines alike.
torch.set_num_threads(1)


@pytest.fixture()
def one_thread():
    """Tiny models on a shared 2-core machine run fastest on one thread; restore afterwards.
    Modules that build and train models use it: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_kept_video_readers():
    """Video readers kept between reads (``data.video_frames._KEPT``) are module-wide: none outlives the
    test that opened it (each holds its file open, past the test's tmp_path)."""
    yield
    from cdvae_core.data import video_frames

    video_frames._KEPT.clear()
