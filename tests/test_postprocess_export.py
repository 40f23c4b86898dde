"""Export: files, sidecars that reproduce results exactly, formats, batch, cancel, bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from cdvae_core.checkpoint import load_model, save_model
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.model import build_model
from cdvae_core.postprocess import ExportError, export_folder, export_results, iter_export, read_image, reproduce
from cdvae_core.progress import Progress


def _model_dir(tmp_path, task="resaturation", cc=1, cg=1):
    torch.manual_seed(0)
    cfg = ModelConfig(task=task, tie="gauss", channels_c=cc, channels_g=cg, latent_sizes=(16, 8),
                      hidden_sizes=(32, 16), conv_channels=(8, 8, 8))
    save_model(tmp_path / f"model_{task}", build_model(cfg), TrainConfig())
    return tmp_path / f"model_{task}"


def _photo_file(path, seed=0, size=(72, 96)):
    rng = np.random.default_rng(seed)
    rgb = cv2.GaussianBlur((rng.random(size + (3,)) * 255).astype(np.uint8), (0, 0), 3)
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def test_export_writes_results_and_sidecars_that_reproduce(tmp_path):
    model_dir = _model_dir(tmp_path)
    predictor = load_model(model_dir)
    photo = _photo_file(tmp_path / "cat.png")
    paths = export_results(predictor, tmp_path / "cat.png", 3, tmp_path / "out", seed=7)
    assert [p.name for p in paths] == ["cat_000.png", "cat_001.png", "cat_002.png"]
    results = [read_image(p) for p in paths]
    assert all(r.shape == photo.shape for r in results)
    side = json.loads((tmp_path / "out" / "cat_001.json").read_text())
    first = json.loads((tmp_path / "out" / "cat_000.json").read_text())
    assert first["code"] != side["code"]  # one code per result, drawn from the seed
    assert side["seed"] == 7 and side["index"] == 1 and side["model"]["dir"] == str(model_dir.resolve())
    assert side["model"]["name"] == predictor.name and side["library_version"]
    assert side["settings"]["fmt"] == "png" and side["files"]["result"] == "cat_001.png"
    assert len(side["code"]) == predictor.code_dim
    assert side["source"]["path"].endswith("cat.png") and side["source"]["width"] == 96
    again = reproduce(tmp_path / "out" / "cat_001.json")  # reloads the model from its directory
    np.testing.assert_array_equal(again, results[1])
    # The same seed gives the same codes; explicit codes are used as given.
    codes = np.asarray(side["code"], np.float32)[None]
    (only,) = export_results(predictor, photo, 1, tmp_path / "again", codes=codes)
    np.testing.assert_array_equal(read_image(only), results[1])
    assert json.loads((tmp_path / "again" / "image000_000.json").read_text())["code"] == side["code"]


def test_formats_jpeg_and_16_bit_png(tmp_path):
    predictor = load_model(_model_dir(tmp_path))
    _photo_file(tmp_path / "a.png")
    (png,) = export_results(predictor, tmp_path / "a.png", 1, tmp_path / "png")
    (jpg,) = export_results(predictor, tmp_path / "a.png", 1, tmp_path / "jpg", fmt="jpg")
    (p16,) = export_results(predictor, tmp_path / "a.png", 1, tmp_path / "p16", fmt="png16")
    assert jpg.suffix == ".jpg"
    eight = read_image(png).astype(int)
    assert np.abs(read_image(jpg).astype(int) - eight).mean() < 3  # lossy but close
    sixteen = cv2.imread(str(p16), cv2.IMREAD_UNCHANGED)
    assert sixteen.dtype == np.uint16
    np.testing.assert_array_equal(sixteen[:, :, ::-1].astype(int), eight * 257)
    with pytest.raises(ExportError, match="unknown export format"):
        export_results(predictor, tmp_path / "a.png", 1, tmp_path / "x", fmt="gif")


def test_folder_batch_skips_bad_photos_and_generator_cancels(tmp_path):
    predictor = load_model(_model_dir(tmp_path))
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo_file(folder / "one.jpg", 1)
    _photo_file(folder / "two.png", 2)
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored")
    report = export_folder(predictor, folder, 2, tmp_path / "out")
    assert sorted(p.name for p in report.results) == ["one_000.png", "one_001.png", "two_000.png", "two_001.png"]
    assert len(report.failed) == 1 and "broken.png" in report.failed[0][0] and "not a readable image" in report.failed[0][1]
    # The Studio's dialog: progress records, and closing the generator stops between results.
    gen = iter_export(predictor, [folder / "one.jpg", folder / "two.png"], 3, tmp_path / "cancel")
    records = []
    for record in gen:
        records.append(record)
        if record.done == 2:
            gen.close()
    assert all(isinstance(r, Progress) and r.total == 6 for r in records)
    assert sorted(p.name for p in (tmp_path / "cancel").iterdir()) == ["one_000.json", "one_000.png", "one_001.json", "one_001.png"]
    with pytest.raises(ExportError, match="not a readable image"):
        export_results(predictor, folder / "broken.png", 1, tmp_path / "bad")
    with pytest.raises(ExportError, match="no such image"):
        export_results(predictor, folder / "missing.png", 1, tmp_path / "bad")


def test_motion_export_writes_flow_pictures(tmp_path):
    predictor = load_model(_model_dir(tmp_path, "motion", 3, 2))
    _photo_file(tmp_path / "frame.png", 3)
    (result,) = export_results(predictor, tmp_path / "frame.png", 1, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["frame_000.json", "frame_000.png", "frame_000_flowcolor.png", "frame_000_warped.png"]
    np.testing.assert_array_equal(reproduce(tmp_path / "out" / "frame_000.json"), read_image(result))


def test_temperature_draws_narrower_codes_and_is_kept_in_the_sidecar(tmp_path):
    from cdvae_core.postprocess.export import ExportSettings

    predictor = load_model(_model_dir(tmp_path))
    photo = _photo_file(tmp_path / "p.png")
    export_results(predictor, photo, 2, tmp_path / "t1", seed=3)
    export_results(predictor, photo, 2, tmp_path / "t0", seed=3, settings=ExportSettings(temperature=0.0))
    side1 = json.loads((tmp_path / "t1" / "image000_001.json").read_text())
    side0 = json.loads((tmp_path / "t0" / "image000_001.json").read_text())
    assert side1["settings"]["temperature"] == 1.0 and side0["settings"]["temperature"] == 0.0
    zero = [json.loads((tmp_path / "t0" / f"image000_00{i}.json").read_text())["code"] for i in range(2)]
    assert zero[0] == zero[1]  # a Gaussian tie at temperature 0: every draw is the conditional mean
    assert side1["code"] != side0["code"]
    # the sidecar's code reproduces the result whatever temperature drew it
    np.testing.assert_array_equal(reproduce(tmp_path / "t0" / "image000_001.json", image=photo),
                                  read_image(tmp_path / "t0" / "image000_001.png"))
