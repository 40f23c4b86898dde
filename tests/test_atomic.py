"""Atomic writes: temporaries left by writers killed outright are removed by the next write."""

import os
import signal
import subprocess
import sys

from cdvae_core.atomic import _host_tag, remove_stale_temporaries, write_bytes_atomic


def test_next_write_removes_the_temporary_of_a_writer_killed_with_sigkill(tmp_path):
    """A `kill -9` mid-write left `.pairs.npz.*.tmp.npz` (232 MB seen) beside the output for good."""
    out = tmp_path / "pairs.npz"
    script = (
        "import os, signal, sys\n"
        "from cdvae_core.atomic import write_with\n"
        "def write(tmp):\n"
        "    tmp.write_bytes(b'half a file')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_with(sys.argv[1], write, suffix='.npz')\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(out)], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".pairs.npz.") and left[0].endswith(".tmp.npz")
    write_bytes_atomic(out, b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.npz"]
    assert out.read_bytes() == b"whole"


def test_live_and_foreign_temporaries_are_kept(tmp_path):
    out = tmp_path / "model.json"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = _host_tag()
        keep = [
            f".model.json.{host}.{sleeper.pid}.abcd1234.tmp.json",  # a live writer on this host
            f".model.json.{host}.{os.getpid()}.abcd1234.tmp.json",  # this process (another thread)
            f".model.json.{host}x.999999999.abcd1234.tmp.json",  # another machine: its pids are not ours
            ".model.json.k2j4l5m6.tmp.json",  # no pid in the name: nobody can tell, so leave it
            f".model.json.bak.{host}.999999999.abcd1234.tmp.bak",  # the temp of `model.json.bak`...
            f".other.json.{host}.999999999.abcd1234.tmp.json",  # ...and of another file
        ]
        for name in keep:
            (tmp_path / name).write_bytes(b"x")
        # 999999999 is above any pid_max (at most 2**22), so never a running process.
        dead = tmp_path / f".model.json.{host}.999999999.abcd1234.tmp.json"
        dead.write_bytes(b"x")
        assert remove_stale_temporaries(out) == [dead]
        write_bytes_atomic(out, b"{}")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["model.json"])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_temporary_name_carries_host_and_pid(tmp_path):
    from cdvae_core.atomic import atomic_path

    with atomic_path(tmp_path / "a.png") as tmp:
        assert tmp.name.startswith(f".a.png.{_host_tag()}.{os.getpid()}.") and tmp.name.endswith(".tmp.png")
        tmp.write_bytes(b"png")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_cleanup_of_a_missing_folder_is_a_no_op(tmp_path):
    assert remove_stale_temporaries(tmp_path / "folder" / "x.bin") == []


def test_written_files_get_the_usual_permissions_and_a_replaced_file_keeps_its_own(tmp_path):
    """safetensors makes its file again, and the 0600 of mkstemp stayed on the weights of every
    saved model: unreadable to other users of a shared drive."""
    import stat

    import torch
    from safetensors.torch import save_file

    from cdvae_core.atomic import write_with

    umask = os.umask(0o022)
    try:
        weights = tmp_path / "weights.safetensors"
        write_with(weights, lambda tmp: save_file({"w": torch.zeros(2)}, str(tmp)), suffix=".safetensors")
        assert stat.S_IMODE(weights.stat().st_mode) == 0o644
        write_bytes_atomic(tmp_path / "config.json", b"{}")
        assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o644
        weights.chmod(0o640)  # the user's own choice for this file
        write_with(weights, lambda tmp: save_file({"w": torch.ones(2)}, str(tmp)), suffix=".safetensors")
        assert stat.S_IMODE(weights.stat().st_mode) == 0o640
    finally:
        os.umask(umask)
