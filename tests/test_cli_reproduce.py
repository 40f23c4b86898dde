"""cdvae-sample --reproduce: re-render an exported result from its sidecar, from the command line."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch

from cdvae_core.checkpoint import save_model
from cdvae_core.cli import sample
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.model import build_model
from cdvae_core.postprocess import read_image

from helpers import DELETE, TINY, edited_json
from test_cli import one_line_error
from test_postprocess_export import old_sidecar

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def exported(tmp_path):
    """A tiny untrained model, a photo, and one result exported through cdvae-sample --image."""
    torch.manual_seed(0)
    save_model(tmp_path / "model", build_model(ModelConfig(task="resaturation", tie="gauss", channels_c=1, channels_g=1,
                                                           **TINY)), TrainConfig())
    rgb = cv2.GaussianBlur((np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8), (0, 0), 2)
    cv2.imwrite(str(tmp_path / "photo.png"), rgb)
    assert sample.main(["--model", str(tmp_path / "model"), "--image", str(tmp_path / "photo.png"), "--n", "2",
                        "--seed", "4", "--export", str(tmp_path / "out")]) == 0
    return tmp_path


def test_reproduce_writes_next_to_the_sidecar_and_never_overwrites_unasked(exported, capsys):
    out = exported / "out"
    capsys.readouterr()
    assert sample.main(["--reproduce", str(out / "photo_001.json")]) == 0
    again = out / "photo_001_reproduced.png"
    np.testing.assert_array_equal(read_image(again), read_image(out / "photo_001.png"))
    assert capsys.readouterr().err.strip() == f"wrote {again}: identical to photo_001.png"
    before = again.read_bytes()
    one_line_error(capsys, sample.main(["--reproduce", str(out / "photo_001.json")]),
                   "already exists; --overwrite replaces it")
    one_line_error(capsys, sample.main(["--reproduce", str(out / "photo_001.json"), "--out", str(out / "photo_001.png")]),
                   "already exists")
    assert again.read_bytes() == before
    # asked: --overwrite replaces, the original included
    original = (out / "photo_001.png").read_bytes()
    assert sample.main(["--reproduce", str(out / "photo_001.json"), "--out", str(out / "photo_001.png"),
                        "--overwrite"]) == 0
    assert "replaced the exported result" in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(out / "photo_001.png"), cv2.imdecode(np.frombuffer(original, np.uint8),
                                                                                  cv2.IMREAD_COLOR)[:, :, ::-1])
    # --out picks the format by its suffix
    assert sample.main(["--reproduce", str(out / "photo_000.json"), "--out", str(exported / "r.jpg")]) == 0
    assert (exported / "r.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert "JPEG is lossy" in capsys.readouterr().err


def test_reproduce_refuses_what_changed_or_went_missing_in_one_line(exported, capsys):
    side = exported / "out" / "photo_000.json"
    capsys.readouterr()
    for flags, needle in ((["--n", "3"], "--n does not go with --reproduce"),
                          (["--seed", "1"], "--seed does not go with --reproduce"),
                          (["--lower-means"], "--lower-means does not go with --reproduce"),
                          (["--distinct"], "--distinct does not go with --reproduce"),
                          (["--out", str(exported / "r.gif")], "name a .png or .jpg file"),
                          (["--out", str(exported)], "name a .png or .jpg file")):
        one_line_error(capsys, sample.main(["--reproduce", str(side), *flags]), needle)
    one_line_error(capsys, sample.main(["--reproduce", str(exported / "none.json")]), "not a readable sidecar")
    # the result instead of its sidecar: named, with the file to pass instead
    one_line_error(capsys, sample.main(["--reproduce", str(exported / "out" / "photo_000.png")]),
                   "an image, not a sidecar; pass the .json written beside it (photo_000.json)")
    (exported / "binary.json").write_bytes(b"\xff\xd8\xff\xe0 not text")
    one_line_error(capsys, sample.main(["--reproduce", str(exported / "binary.json")]),
                   "not a readable sidecar (binary data, not JSON text)")
    one_line_error(capsys, sample.main(["--image", str(exported / "photo.png"), "--export", str(exported / "x")]),
                   "the following arguments are required: --model, --n")
    # the photo: edited, then gone
    photo = cv2.imread(str(exported / "photo.png"))
    photo[0, 0] ^= 1
    cv2.imwrite(str(exported / "photo.png"), photo)
    one_line_error(capsys, sample.main(["--reproduce", str(side)]), "the source photo's pixels differ")
    (exported / "photo.png").unlink()
    one_line_error(capsys, sample.main(["--reproduce", str(side)]), "the recorded source photo cannot be read")
    # the model: moved (--model names where it is now), then retrained in place
    photo[0, 0] ^= 1
    cv2.imwrite(str(exported / "photo.png"), photo)
    shutil.move(exported / "model", exported / "moved")
    one_line_error(capsys, sample.main(["--reproduce", str(side)]), "the recorded model cannot be loaded")
    assert sample.main(["--reproduce", str(side), "--model", str(exported / "moved")]) == 0
    assert "identical to photo_000.png" in capsys.readouterr().err
    torch.manual_seed(9)
    save_model(exported / "moved", build_model(ModelConfig(task="resaturation", tie="gauss", channels_c=1, channels_g=1,
                                                           **TINY)), TrainConfig())
    one_line_error(capsys, sample.main(["--reproduce", str(side), "--model", str(exported / "moved"), "--out",
                                        str(exported / "changed.png")]), "has changed since the export")
    assert not (exported / "changed.png").exists()


def test_reproduce_reads_a_sidecar_written_before_the_new_keys(tmp_path, capsys):
    path, _, _ = old_sidecar(tmp_path)
    assert sample.main(["--reproduce", str(path), "--out", str(tmp_path / "r.png")]) == 0
    assert "not beside the sidecar to compare" in capsys.readouterr().err
    assert read_image(tmp_path / "r.png").shape == (40, 48, 3)


NAN = float("nan")


@pytest.mark.parametrize("where,value,needle", [
    (("source",), None, '"source" must be an object, got null'),
    (("source", "path"), 5, '"source.path" must be a string or null, got 5'),
    (("source", "sha256"), DELETE, '"source.sha256" must be a string, got null'),
    (("model",), [], '"model" must be an object, got []'),
    (("model", "dir"), True, '"model.dir" must be a string or null, got true'),
    (("model", "dir"), DELETE, "no model directory recorded"),
    (("settings",), "x", '"settings" must be an object, got "x"'),
    (("files",), 5, '"files" must be an object, got 5'),
    (("settings", "upsample"), [], '"settings": upsample and upsample.segments must be objects'),
    (("settings", "upsample", "reg"), -1, "UpsampleSettings setting reg must be a positive number, got -1"),
    (("settings", "upsample", "cross"), 1e308, "UpsampleSettings setting cross must be a number in (0, 1]"),
    (("settings", "upsample", "max_side"), "x", "UpsampleSettings setting max_side must be an int, got 'x'"),
    (("settings", "upsample", "segments", "sigma"), 1e308, "SegmentSettings setting sigma must be a number in [0, 100]"),
    (("settings", "upsample", "segments", "scale"), None, "SegmentSettings setting scale must be a number, got None"),
    (("settings", "upsample", "segments", "spin"), 1, "unknown SegmentSettings setting(s): spin"),
    (("settings", "temperature"), NAN, "ExportSettings setting temperature must be a number in [0, 2.0], got nan"),
    (("settings", "jpeg_quality"), 0, "ExportSettings setting jpeg_quality must be an int in [1, 100], got 0"),
    (("settings", "extras"), 1, "ExportSettings setting extras must be true or false, got 1"),
    (("settings", "fmt"), "gif", "unknown export format 'gif'"),
])
def test_reproduce_names_the_bad_part_of_an_edited_sidecar(exported, capsys, where, value, needle):
    """Found by mutating a sidecar's every key (deleted, or set to null, a string, -1, 1e308, [],
    {}, true or NaN; 594 sidecars): 98 of them failed with a KeyError, TypeError,
    AttributeError, OverflowError, LinAlgError or numpy's UFuncTypeError from deep inside, instead
    of one line naming the key."""
    import json

    side = exported / "out" / "photo_000.json"
    (exported / "edited.json").write_text(json.dumps(edited_json(json.loads(side.read_text()), where, value)))
    capsys.readouterr()
    one_line_error(capsys, sample.main(["--reproduce", str(exported / "edited.json"), "--out", str(exported / "r.png")]),
                   needle)
    assert not (exported / "r.png").exists()


def test_a_second_export_into_a_folder_numbers_after_the_first_and_overwrite_replaces(exported, capsys):
    """Every export of a photo numbered from 000: a second cdvae-sample --image into the same
    folder replaced the first one's files without a word (and a --pairs --out file too), while
    the error text said "--pairs and --image write new files"."""
    model, photo, out = str(exported / "model"), str(exported / "photo.png"), exported / "out"
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["photo_000.json", "photo_000.png", "photo_001.json", "photo_001.png"]
    capsys.readouterr()
    assert sample.main(["--model", model, "--image", photo, "--n", "2", "--seed", "5", "--export", str(out)]) == 0
    assert "already holds 2 earlier result(s) of photo: the new ones are numbered from 002" in \
        capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in first} == first  # untouched
    assert sorted(p.name for p in out.glob("*.png")) == [f"photo_{i:03d}.png" for i in range(4)]
    assert sample.main(["--reproduce", str(out / "photo_003.json"), "--out", str(exported / "again.png")]) == 0
    assert "identical to photo_003.png" in capsys.readouterr().err
    # --overwrite: from 000 again, replacing all of them (002 and 003 were left behind, as if of this export)
    seed5 = [(out / f"photo_{i:03d}.png").read_bytes() for i in (2, 3)]
    (out / "photo_003_notes.txt").write_text("not a result")  # other files stay
    assert sample.main(["--model", model, "--image", photo, "--n", "2", "--seed", "5", "--export", str(out),
                        "--overwrite"]) == 0
    assert "replacing 4 earlier result(s) of photo" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["photo_000.json", "photo_000.png", "photo_001.json",
                                                     "photo_001.png", "photo_003_notes.txt"]
    assert [(out / f"photo_{i:03d}.png").read_bytes() for i in (0, 1)] == seed5  # seed 5's results
    # a folder of photos: numbered after the highest earlier result of any of them
    folder = exported / "photos"
    folder.mkdir()
    shutil.copy(photo, folder / "photo.png")
    assert sample.main(["--model", model, "--image", str(folder), "--n", "1", "--export", str(out)]) == 0
    assert (out / "photo_002.png").is_file() and "numbered from 002" in capsys.readouterr().err


def test_a_samples_file_is_replaced_only_with_overwrite(exported, capsys):
    from cdvae_core.pairs import save_pairs

    from test_training import tiny_pairs

    save_pairs(exported / "pairs.npz", tiny_pairs(n=16))
    out = exported / "samples.npz"
    out.write_bytes(b"an earlier samples file")
    flags = ["--model", str(exported / "model"), "--pairs", str(exported / "pairs.npz"), "--n", "2", "--out", str(out)]
    one_line_error(capsys, sample.main(flags), "samples.npz exists: pass --overwrite to replace it")
    assert out.read_bytes() == b"an earlier samples file"
    assert sample.main([*flags, "--overwrite"]) == 0
    assert np.load(out)["samples"].shape == (4, 2, 1, 32, 32)
