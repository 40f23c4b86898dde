"""Export: files, sidecars that reproduce results exactly, formats, batch, cancel, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    # The same seed gives the same codes; explicit codes and their noise are used as given.
    codes = np.asarray(side["code"], np.float32)[None]
    noise = np.asarray(side["lower_noise"], np.float32)[None]
    (only,) = export_results(predictor, photo, 1, tmp_path / "again", codes=codes, noise=noise)
    np.testing.assert_array_equal(read_image(only), results[1])
    again_side = json.loads((tmp_path / "again" / "image000_000.json").read_text())
    assert again_side["code"] == side["code"] and again_side["lower_noise"] == side["lower_noise"]


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
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    writer.write(np.full((48, 64, 3), 90, np.uint8))  # a video is its first frame, as the Studio opens it
    writer.release()
    (folder / "broken.mp4").write_bytes(b"not a video")
    report = export_folder(predictor, folder, 2, tmp_path / "out")
    assert sorted(p.name for p in report.results) == ["clip_000.png", "clip_001.png", "one_000.png", "one_001.png",
                                                       "two_000.png", "two_001.png"]
    assert sorted((Path(name).name, why) for name, why in report.failed) == [
        ("broken.mp4", "video will not open"), ("broken.png", "not a readable image")]
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


def test_photos_too_small_for_cdvae_prepare_are_refused_by_export_and_the_studio_alike(tmp_path):
    """One rule, ``data.images.MIN_SIDE``: cdvae-prepare skipped a 20000x2 strip that cdvae-sample
    exported (8 px against 2), and the Studio refused a 12x12 photo that both took (16)."""
    from cdvae_core.data.errors import SkipItem
    from cdvae_core.data.images import read_image as read_for_prepare
    from cdvae_studio.images import ImageLoadError, load_image

    for size in ((2, 20000), (12, 12), (15, 300)):
        path = tmp_path / f"{size[1]}x{size[0]}.png"
        _photo_file(path, size=size)
        with pytest.raises(ExportError, match=r"too small \(need at least 16x16\)"):
            read_image(path)
        with pytest.raises(SkipItem, match="too small"):
            read_for_prepare(path)
        with pytest.raises(ImageLoadError, match="too small"):
            load_image(path)
    _photo_file(tmp_path / "ok.png", size=(16, 40))
    assert read_image(tmp_path / "ok.png").shape == read_for_prepare(tmp_path / "ok.png").shape == (16, 40, 3)
    assert load_image(tmp_path / "ok.png").rgb.shape == (16, 40, 3)


def test_motion_export_writes_flow_pictures(tmp_path):
    predictor = load_model(_model_dir(tmp_path, "motion", 3, 2))
    _photo_file(tmp_path / "frame.png", 3)
    (result,) = export_results(predictor, tmp_path / "frame.png", 1, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["frame_000.json", "frame_000.png", "frame_000_flowcolor.png", "frame_000_warped.png"]
    np.testing.assert_array_equal(reproduce(tmp_path / "out" / "frame_000.json"), read_image(result))


def test_a_motion_export_reproduces_in_the_arrow_style_it_was_drawn_in(tmp_path):
    """Sidecars record the arrow style; one written before they did (no "arrows") was drawn in
    style 1 and reproduces so, where style 2's larger cells would differ on a small frame."""
    from cdvae_core.postprocess.export import ExportSettings

    predictor = load_model(_model_dir(tmp_path, "motion", 3, 2))
    with torch.no_grad():  # an untrained model's flows are too short for arrows: 2 model px/s right
        predictor.model.dvae_g.decoder.net[-1].bias.copy_(torch.tensor([2.0, 0.0]))
    _photo_file(tmp_path / "frame.png", 3)
    code = np.zeros((1, predictor.code_dim), np.float32)
    (old,) = export_results(predictor, tmp_path / "frame.png", 1, tmp_path / "old", codes=code,
                            settings=ExportSettings(arrows=1))
    (new,) = export_results(predictor, tmp_path / "frame.png", 1, tmp_path / "new", codes=code)
    assert not np.array_equal(read_image(old), read_image(new))
    side = tmp_path / "old" / "frame_000.json"
    data = json.loads(side.read_text())
    assert data["settings"]["arrows"] == 1
    assert json.loads((tmp_path / "new" / "frame_000.json").read_text())["settings"]["arrows"] == 2
    del data["settings"]["arrows"]
    side.write_text(json.dumps(data))
    np.testing.assert_array_equal(reproduce(side, predictor), read_image(old))
    np.testing.assert_array_equal(reproduce(tmp_path / "new" / "frame_000.json", predictor), read_image(new))
    data["settings"]["arrows"] = 3
    side.write_text(json.dumps(data))
    with pytest.raises(ExportError, match="arrows"):
        reproduce(side, predictor)


@pytest.mark.parametrize("task, cc, cg", [("resaturation", 1, 1), ("motion", 3, 2)])
def test_exported_picture_is_what_an_export_writes_in_memory(tmp_path, task, cc, cg):
    """What the Studio copies to the clipboard: the file an export writes for the same code and
    noise (motion: the arrows over the frame, with or without the extras written); the lower
    layers at their means where noise is None or lower_layers is off. Bad codes or noise: ExportError."""
    from cdvae_core.postprocess.export import ExportSettings, exported_picture

    predictor = load_model(_model_dir(tmp_path, task, cc, cg))
    photo = _photo_file(tmp_path / "p.png", 4)
    (path,) = export_results(predictor, tmp_path / "p.png", 1, tmp_path / "out", seed=3)
    side = json.loads((tmp_path / "out" / "p_000.json").read_text())
    code, noise = np.float32(side["code"]), np.float32(side["lower_noise"])
    exported = read_image(path)
    np.testing.assert_array_equal(exported_picture(predictor, tmp_path / "p.png", code, noise), exported)
    np.testing.assert_array_equal(exported_picture(predictor, photo, code, noise,
                                                ExportSettings(extras=False)), exported)
    (means,) = export_results(predictor, photo, 1, tmp_path / "means", codes=code[None],
                              settings=ExportSettings(lower_layers=False))
    np.testing.assert_array_equal(exported_picture(predictor, photo, code), read_image(means))
    np.testing.assert_array_equal(exported_picture(predictor, photo, code, noise, ExportSettings(lower_layers=False)),
                                  read_image(means))
    if task != "motion":  # an untrained model's flows are too short for arrows either way
        assert not np.array_equal(read_image(means), exported)
    with pytest.raises(ExportError, match="codes must have shape"):
        exported_picture(predictor, photo, code[:-1])
    with pytest.raises(ExportError, match="noise"):
        exported_picture(predictor, photo, code, noise[:-1])
    with pytest.raises(ExportError, match="not a readable image|missing|No such|does not exist"):
        exported_picture(predictor, tmp_path / "missing.png", code)


def test_a_videos_frame_at_a_time_exports_under_its_time_and_reproduces(tmp_path, capsys):
    """``cdvae-sample --image clip.avi#t=0.4``: results named clip_t0.4s, the sidecar's source path
    keeps the time (made absolute), and --reproduce reads that same frame back."""
    from cdvae_core.cli.sample import main as sample_main

    model_dir = _model_dir(tmp_path, "motion", 3, 2)
    rng = np.random.default_rng(5)
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(30):  # every frame different, so a wrong frame cannot pass
        writer.write(cv2.GaussianBlur((rng.random((48, 64, 3)) * 255).astype(np.uint8), (0, 0), 2))
    writer.release()
    source = f"{tmp_path / 'clip.avi'}#t=0.4"
    assert sample_main(["--model", str(model_dir), "--image", source, "--n", "1", "--export",
                        str(tmp_path / "out")]) == 0
    side = json.loads((tmp_path / "out" / "clip_t0.4s_000.json").read_text())
    assert side["source"]["path"] == f"{(tmp_path / 'clip.avi').resolve()}#t=0.4"
    frame = read_image(source)
    assert not np.array_equal(frame, read_image(tmp_path / "clip.avi"))
    assert (side["source"]["width"], side["source"]["height"]) == (64, 48)
    capsys.readouterr()
    assert sample_main(["--reproduce", str(tmp_path / "out" / "clip_t0.4s_000.json")]) == 0
    assert "identical to clip_t0.4s_000.png" in capsys.readouterr().err
    assert sample_main(["--model", str(model_dir), "--image", f"{tmp_path / 'clip.avi'}#t=9", "--n", "1",
                        "--export", str(tmp_path / "late")]) == 2
    assert capsys.readouterr().err.strip() == f"cdvae-sample: error: {tmp_path / 'clip.avi'}#t=9: video ends at 1.2 s, before 9 s"


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


def _cond(predictor, photo):
    """The Condition an export of ``photo`` decodes with (default settings)."""
    from cdvae_core.postprocess import get_renderer
    from cdvae_core.postprocess.export import ExportSettings
    from cdvae_core.tasks import get_task

    return predictor.prepare(get_renderer(get_task(predictor.task), photo, ExportSettings().upsample).xc_model)


def _spy_decode(monkeypatch, predictor):
    """Record (codes, noise, x_g) of every predictor.decode call the export makes."""
    calls = []
    real = predictor.decode

    def decode(cond, codes, noise=None):
        out = real(cond, codes, noise)
        calls.append((np.array(codes), None if noise is None else np.array(noise), out.copy()))
        return out

    monkeypatch.setattr(predictor, "decode", decode)
    return calls


def test_default_export_is_the_models_full_sample_and_its_noise_reproduces_it(tmp_path, monkeypatch):
    predictor = load_model(_model_dir(tmp_path))
    assert predictor.noise_dim > 0  # the test model has a lower latent layer
    photo = _photo_file(tmp_path / "p.png")
    cond = _cond(predictor, photo)
    samples = predictor.sample(cond, 3, 5)  # (3, Cg, 32, 32): every latent layer drawn
    codes, noise = predictor.draw(cond, 3, 5)
    calls = _spy_decode(monkeypatch, predictor)
    paths = export_results(predictor, photo, 3, tmp_path / "out", seed=5)
    layers = [out[0] for _, eps, out in calls if eps is not None]  # the own sample (eq. 10) decodes at means
    assert len(layers) == 3 and len(calls) == 4
    means = predictor.decode(cond, codes)
    for i, path in enumerate(paths):
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["format_version"] == 2 and side["settings"]["lower_layers"] is True
        assert side["code"] == [float(v) for v in codes[i]]
        assert side["lower_noise"] == [float(v) for v in noise[i]]  # float32 values, exact
        # the exported 32x32 layer is the model's own sample i (up to the batch's float rounding) ...
        np.testing.assert_allclose(layers[i], samples[i], rtol=0, atol=1e-5)
        assert np.abs(means[i] - samples[i]).max() > 1e-3  # ... which the means decode is not
        # ... and the sidecar's code and noise give back the very same picture
        np.testing.assert_array_equal(reproduce(path.with_suffix(".json"), predictor, photo), read_image(path))


def test_lower_means_export_has_null_noise_and_reads_as_version_1(tmp_path, monkeypatch):
    from cdvae_core.postprocess.export import ExportSettings

    predictor = load_model(_model_dir(tmp_path))
    photo = _photo_file(tmp_path / "p.png")
    cond = _cond(predictor, photo)
    codes = predictor.draw_codes(cond, 2, 5)
    calls = _spy_decode(monkeypatch, predictor)
    paths = export_results(predictor, photo, 2, tmp_path / "means", seed=5, settings=ExportSettings(lower_layers=False))
    assert all(eps is None for _, eps, _ in calls)
    monkeypatch.undo()
    drawn = export_results(predictor, photo, 2, tmp_path / "drawn", seed=5)
    for i, path in enumerate(paths):
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["lower_noise"] is None and side["settings"]["lower_layers"] is False
        assert side["code"] == [float(v) for v in codes[i]]  # the same codes as a default export draws
        np.testing.assert_array_equal(calls[1 + i][2], predictor.decode(cond, codes[i : i + 1]))
        np.testing.assert_array_equal(reproduce(path.with_suffix(".json"), predictor, photo), read_image(path))
    assert any(not np.array_equal(read_image(a), read_image(b)) for a, b in zip(paths, drawn))
    # A version 1 sidecar (written before lower_noise existed) decoded at the means: still reproduces.
    side = json.loads(paths[1].with_suffix(".json").read_text())
    del side["lower_noise"], side["settings"]["lower_layers"]
    (tmp_path / "v1.json").write_text(json.dumps({**side, "format_version": 1}))
    np.testing.assert_array_equal(reproduce(tmp_path / "v1.json", predictor, photo), read_image(paths[1]))
    for version in (3, 0, "2", None):
        (tmp_path / "vx.json").write_text(json.dumps({**side, "format_version": version}))
        with pytest.raises(ExportError, match="this library reads versions 1, 2"):
            reproduce(tmp_path / "vx.json", predictor, photo)
    (tmp_path / "v2.json").write_text(json.dumps({**side, "format_version": 2}))  # v2 without lower_noise
    with pytest.raises(ExportError, match='needs "lower_noise"'):
        reproduce(tmp_path / "v2.json", predictor, photo)


def test_sidecar_noise_that_does_not_fit_the_model_is_a_clear_error(tmp_path):
    predictor = load_model(_model_dir(tmp_path))
    photo = _photo_file(tmp_path / "p.png")
    (path,) = export_results(predictor, photo, 1, tmp_path / "out")
    side = json.loads(path.with_suffix(".json").read_text())
    cases = [({"lower_noise": side["lower_noise"][:-1]},
              f'"lower_noise" has {predictor.noise_dim - 1} values, this model\'s lower-layer noise has {predictor.noise_dim}'),
             ({"lower_noise": ["a"] * predictor.noise_dim}, '"lower_noise" must be a list of numbers'),
             ({"lower_noise": 0.5}, '"lower_noise" must be a list of numbers'),
             ({"code": side["code"] + [0.0]}, f'"code" has {predictor.code_dim + 1} values')]
    for change, needle in cases:
        (tmp_path / "bad.json").write_text(json.dumps({**side, **change}))
        with pytest.raises(ExportError, match=needle) as info:
            reproduce(tmp_path / "bad.json", predictor, photo)
        assert "\n" not in str(info.value)


def test_given_codes_take_their_noise_checked_row_for_row(tmp_path):
    from cdvae_core.postprocess.export import ExportSettings

    predictor = load_model(_model_dir(tmp_path))
    photo = _photo_file(tmp_path / "p.png")
    codes, noise = predictor.draw(_cond(predictor, photo), 2, 1)
    bad = [(noise[:1], r"shape \(2, 16\) for this model, got \(1, 16\)"),
           (noise[:, :-1], r"shape \(2, 16\) for this model, got \(2, 15\)"),
           (np.where(np.arange(16) == 3, np.nan, noise), "NaN or infinite")]
    for wrong, needle in bad:
        with pytest.raises(ExportError, match=needle) as info:
            export_results(predictor, photo, 2, tmp_path / "bad", codes=codes, noise=wrong)
        assert "\n" not in str(info.value)
        with pytest.raises(ExportError, match=needle):  # a caller's mistake, not a bad photo: never skipped
            list(iter_export(predictor, [photo], 2, tmp_path / "bad", codes=codes, noise=wrong))
    with pytest.raises(ExportError, match="noise= goes with codes="):
        export_results(predictor, photo, 2, tmp_path / "bad", noise=noise)
    with pytest.raises(ExportError, match=r"codes must have shape \(n, 8\)"):
        export_results(predictor, photo, 2, tmp_path / "bad", codes=codes[:, :5])
    assert not (tmp_path / "bad").exists()
    # codes without noise: lower layers at their means, and the sidecar says so
    (means,) = export_results(predictor, photo, 1, tmp_path / "means", codes=codes[:1])
    side = json.loads(means.with_suffix(".json").read_text())
    assert side["lower_noise"] is None and side["settings"]["lower_layers"] is False
    # lower_layers=False wins over given noise
    (off,) = export_results(predictor, photo, 1, tmp_path / "off", codes=codes[:1], noise=noise[:1],
                            settings=ExportSettings(lower_layers=False))
    np.testing.assert_array_equal(read_image(off), read_image(means))
    # a batch: the given codes and noise apply to every photo, as the seeded draw of a default export
    other = _photo_file(tmp_path / "q.png", seed=4)
    report_paths = []
    for record in iter_export(predictor, [photo, other], 0, tmp_path / "batch", codes=codes, noise=noise):
        report_paths.append(record.done)
    assert report_paths[-1] == 4
    drawn = export_results(predictor, photo, 2, tmp_path / "drawn", seed=1)
    for i in range(2):
        np.testing.assert_array_equal(read_image(tmp_path / "batch" / f"image000_00{i}.png"), read_image(drawn[i]))
        side = json.loads((tmp_path / "batch" / f"image001_00{i}.json").read_text())
        assert side["lower_noise"] == [float(v) for v in noise[i]]


def test_cvae_and_one_layer_exports_have_empty_noise_and_reproduce(tmp_path):
    for name, extra in (("cvae", dict(arch="cvae", cvae_latent=4)), ("shallow", dict(latent_sizes=(8,), hidden_sizes=(16,)))):
        torch.manual_seed(0)
        cfg = ModelConfig(**{**dict(task="resaturation", tie="gauss", channels_c=1, channels_g=1, latent_sizes=(16, 8),
                                    hidden_sizes=(32, 16), conv_channels=(8, 8, 8)), **extra})
        save_model(tmp_path / name, build_model(cfg), TrainConfig())
        predictor = load_model(tmp_path / name)
        assert predictor.noise_dim == 0
        photo = _photo_file(tmp_path / "p.png")
        (path,) = export_results(predictor, photo, 1, tmp_path / f"out_{name}", seed=2)
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["lower_noise"] == []
        np.testing.assert_array_equal(reproduce(path.with_suffix(".json"), predictor, photo), read_image(path))
        np.testing.assert_allclose(predictor.decode(_cond(predictor, photo), np.asarray(side["code"], np.float32)[None]),
                                   predictor.sample(_cond(predictor, photo), 1, 2), rtol=0, atol=1e-5)


def test_float_tiff_exports_and_truncated_jpeg_is_refused(tmp_path):
    """Photos cdvae-prepare reads (a float TIFF) used to be "not a readable image" here, and a
    truncated JPEG was exported with its missing part filled grey by OpenCV, without a word."""
    predictor = load_model(_model_dir(tmp_path))
    rgb = _photo_file(tmp_path / "photo.png", 4)
    cv2.imwrite(str(tmp_path / "photo.tiff"), rgb[:, :, ::-1].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(read_image(tmp_path / "photo.tiff"), rgb)
    (result,) = export_results(predictor, tmp_path / "photo.tiff", 1, tmp_path / "out")
    np.testing.assert_array_equal(reproduce(result.with_suffix(".json")), read_image(result))
    jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(ExportError, match="truncated JPEG"):
        export_results(predictor, tmp_path / "cut.jpg", 1, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def _transparent_photos(tmp_path) -> dict[str, np.ndarray]:
    """RGBA / grey + alpha photos (PNG, WebP), some EXIF-rotated, and what viewers show of each:
    Pillow's upright picture composited over white. Under alpha 0 the stored colour is random."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (40, 60, 4), dtype=np.uint8)
    rgba[:10, :, 3], rgba[10:20, :30, 3] = 0, 90
    shown = {}
    for name, mode, orientation in (("a.png", "RGBA", 1), ("b.png", "RGBA", 6), ("c.webp", "RGBA", 8),
                                    ("d.png", "LA", 3)):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(rgba, "RGBA").convert(mode).save(tmp_path / name, exif=exif, lossless=True)
        upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / name)).convert("RGBA")).astype(np.float64)
        alpha = upright[..., 3:] / 255.0
        shown[name] = np.clip(upright[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
    return shown


def test_transparent_photos_are_read_over_white_by_exports_and_cdvae_prepare(tmp_path):
    """Exports and cdvae-prepare kept the colour stored under transparent pixels (often black),
    which no viewer shows and the Studio did not show: it composites over white, so its grid and
    its exports of one photo disagreed. All three read a transparent photo over white now."""
    from cdvae_core.data.images import decode_image

    for name, want in _transparent_photos(tmp_path).items():
        data = (tmp_path / name).read_bytes()
        np.testing.assert_array_equal(read_image(tmp_path / name), want, err_msg=name)
        np.testing.assert_array_equal(decode_image(data, name), want, err_msg=name)
    # an opaque RGBA photo keeps its pixels exactly (the sidecars of its earlier exports match)
    rgb = _photo_file(tmp_path / "opaque.png", 5)
    cv2.imwrite(str(tmp_path / "opaque.png"), np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)]))
    np.testing.assert_array_equal(read_image(tmp_path / "opaque.png"), rgb)
    # 16-bit: the high byte in both, as OpenCV's colour decode takes it (cdvae-prepare rounded x / 257)
    deep = np.random.default_rng(4).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    want = (deep[:, :, ::-1] >> 8).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), want)
    np.testing.assert_array_equal(decode_image((tmp_path / "deep.png").read_bytes()), want)


def test_an_export_of_a_transparent_photo_made_before_it_was_read_over_white_reproduces(tmp_path, monkeypatch):
    from cdvae_core.data import images as image_reading

    predictor = load_model(_model_dir(tmp_path))
    _transparent_photos(tmp_path)
    with monkeypatch.context() as patched:  # as exports read it before: the stored colour kept
        patched.setattr(image_reading, "transparency", lambda *args, **kwargs: None)
        (old,) = export_results(predictor, tmp_path / "b.png", 1, tmp_path / "out", seed=2)
    assert not np.array_equal(read_image(tmp_path / "b.png"), read_image(tmp_path / "b.png", hidden_colour=True))
    np.testing.assert_array_equal(reproduce(old.with_suffix(".json")), read_image(old))
    (new,) = export_results(predictor, tmp_path / "b.png", 1, tmp_path / "new", seed=2)
    np.testing.assert_array_equal(reproduce(new.with_suffix(".json")), read_image(new))
    assert not np.array_equal(read_image(new), read_image(old))  # the white showed through
    side = json.loads(new.with_suffix(".json").read_text())
    side["source"]["sha256"] = "0" * 64  # neither reading: the photo changed
    new.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ExportError, match="pixels differ"):
        reproduce(new.with_suffix(".json"))


def test_sidecar_records_file_number_and_where_a_given_code_came_from(tmp_path):
    """``index`` is the row within the export call: a star exported from grid cell 4 into files
    numbered from 5 said only "index 0". Now the file number and the caller's origin are kept."""
    predictor = load_model(_model_dir(tmp_path))
    photo = _photo_file(tmp_path / "p.png")
    codes, noise = predictor.draw(_cond(predictor, photo), 6, 2)
    cells = [4, 1]
    paths = export_results(predictor, photo, 0, tmp_path / "stars", codes=codes[cells], noise=noise[cells],
                           first_index=5, sample_indices=cells)
    assert [p.name for p in paths] == ["image000_005.png", "image000_006.png"]
    for row, (path, cell) in enumerate(zip(paths, cells)):
        side = json.loads(path.with_suffix(".json").read_text())
        assert (side["index"], side["file_number"], side["sample_index"]) == (row, 5 + row, cell)
        assert side["code"] == [float(v) for v in codes[cell]]
    # a drawn export: index is the row of the seeded draw, and no origin is claimed
    drawn = export_results(predictor, photo, 2, tmp_path / "drawn", seed=2)
    side = json.loads(drawn[1].with_suffix(".json").read_text())
    assert (side["index"], side["file_number"], side["sample_index"]) == (1, 1, None)
    bad = [(dict(codes=codes[:2], sample_indices=[0]), "must be 2 whole numbers"),
           (dict(codes=codes[:2], sample_indices=[0, -1]), "must be 2 whole numbers"),
           (dict(codes=codes[:2], sample_indices=[True, 1]), "must be 2 whole numbers"),
           (dict(sample_indices=[0, 1]), "sample_indices= goes with codes=")]
    for kwargs, needle in bad:
        with pytest.raises(ExportError, match=needle):
            export_results(predictor, photo, 2, tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()


def test_reproduce_refuses_a_model_that_changed_since_the_export(tmp_path):
    model_dir = _model_dir(tmp_path)
    predictor = load_model(model_dir)
    _photo_file(tmp_path / "p.png")
    (path,) = export_results(predictor, tmp_path / "p.png", 1, tmp_path / "out", seed=1)
    sidecar = path.with_suffix(".json")
    assert len(json.loads(sidecar.read_text())["model"]["weights_sha256"]) == 64
    np.testing.assert_array_equal(reproduce(sidecar), read_image(path))
    # retrained in place: same config, other weights
    torch.manual_seed(1)
    save_model(model_dir, build_model(predictor.config), TrainConfig())
    with pytest.raises(ExportError, match="has changed since the export"):
        reproduce(sidecar)
    with pytest.raises(ExportError, match="has changed since the export"):
        reproduce(sidecar, load_model(model_dir))
    # a sidecar from before the hash existed: the recorded config is compared instead
    side = json.loads(sidecar.read_text())
    del side["model"]["weights_sha256"]
    side["model"]["config"]["tie"] = "mdn"
    (tmp_path / "old.json").write_text(json.dumps(side))
    with pytest.raises(ExportError, match="is not the exported one \\(tie was 'mdn', is 'gauss'\\)"):
        reproduce(tmp_path / "old.json")
    # a model directory or photo that is gone: one line naming the sidecar
    shutil.rmtree(model_dir)
    with pytest.raises(ExportError, match="the recorded model cannot be loaded") as info:
        reproduce(sidecar)
    assert "\n" not in str(info.value) and str(sidecar) in str(info.value)


def old_sidecar(tmp_path):
    """tests/data/export_sidecar_v2_head.json, written by export_results before file_number,
    sample_index and weights_sha256 existed (a TINY Gauss resaturation model, the PATTERN photo,
    seed 5, result 1), with its model and photo paths pointed at copies made here."""
    from helpers import TINY

    side = json.loads((Path(__file__).parent / "data" / "export_sidecar_v2_head.json").read_text())
    assert "file_number" not in side and "weights_sha256" not in side["model"]
    torch.manual_seed(0)
    cfg = ModelConfig(task="resaturation", tie="gauss", channels_c=1, channels_g=1, **TINY)
    save_model(tmp_path / "model", build_model(cfg), TrainConfig())
    yy, xx = np.mgrid[0:40, 0:48]
    rgb = np.stack([(xx * 5) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), rgb[:, :, ::-1])
    side["model"]["dir"], side["source"]["path"] = str(tmp_path / "model"), str(tmp_path / "photo.png")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "photo_001.json").write_text(json.dumps(side, indent=2))
    return tmp_path / "old" / "photo_001.json", side, rgb


def test_a_sidecar_written_before_the_new_keys_still_reproduces(tmp_path):
    path, side, rgb = old_sidecar(tmp_path)
    predictor = load_model(tmp_path / "model")
    # the same code and noise exported now give the picture the old sidecar reproduces
    (now,) = export_results(predictor, rgb, 0, tmp_path / "now", codes=np.asarray([side["code"]], np.float32),
                            noise=np.asarray([side["lower_noise"]], np.float32))
    np.testing.assert_array_equal(reproduce(path), read_image(now))


def test_a_folder_export_lists_every_photo_format_cdvae_prepare_reads(tmp_path):
    """A folder export took .png/.jpg/.bmp/.tif/.webp only: .ppm, .pgm and .jp2 photos, which
    cdvae-prepare and a single --image read, were left out without a word (6 files exported 2)."""
    import cv2

    from cdvae_core.data.images import IMAGE_EXTENSIONS
    from cdvae_core.postprocess.imagefiles import list_images, read_image

    rgb = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    for ext in (".ppm", ".jp2", ".png"):
        assert cv2.imwrite(str(tmp_path / f"a{ext}"), rgb)
    assert cv2.imwrite(str(tmp_path / "b.pgm"), rgb[:, :, 0])
    (tmp_path / "notes.txt").write_text("not a photo")
    listed = list_images(tmp_path)
    assert [p.name for p in listed] == ["a.jp2", "a.png", "a.ppm", "b.pgm"]
    assert all(read_image(p).shape == (40, 50, 3) for p in listed)
    assert {".ppm", ".pgm", ".jp2"} <= set(IMAGE_EXTENSIONS)
