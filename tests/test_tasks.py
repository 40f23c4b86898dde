"""Tasks: layers mean what they claim, checked against independent computations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdvae_core.data.builtin import builtin_images
from cdvae_core.data.synthetic_motion import MotionParams, dominant_gradient, random_motion, render_clip
from cdvae_core.tasks import TASK_NAMES, TaskError, get_task
from cdvae_core.tasks.flow import endpoint_error, flow_model_units, flow_pixels
from cdvae_core.tasks.intrinsic import poisson_reintegrate
from cdvae_core.tasks.intrinsic_eval import intrinsic_scores, luminance_baseline, lmse, synthetic_intrinsic


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    name, image = builtin_images()[2]  # coffee: colourful, 400x600
    return np.ascontiguousarray(image[:200, :300])


def test_registry_and_channels():
    expected = {"relighting": (3, 1), "resaturation": (1, 1), "motion": (3, 2)}
    assert set(TASK_NAMES) == set(expected)
    for name, channels in expected.items():
        task = get_task(name)
        assert task.name == name
        assert (task.channels_c, task.channels_g) == channels
        assert task.g_range[0] < task.g_range[1]
    with pytest.raises(TaskError, match="unknown task"):
        get_task("colourise")
    with pytest.raises(TaskError, match=r"^the model was trained on synthetic layers \(task 'synthetic'\), not a photo "
                                        r"task's, so it samples pair files only \(cdvae-sample --pairs, cdvae-eval\)$"):
        get_task("synthetic")  # was "unknown task 'synthetic'; choose one of ..." to a user who chose none
    assert issubclass(TaskError, ValueError)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_decompose_shapes_and_to_model(name, photo):
    task = get_task(name)
    xc, xg = task.decompose(photo)
    h, w = photo.shape[:2]
    assert xc.shape == (task.channels_c, h, w) and xg.shape == (task.channels_g, h, w)
    assert xc.dtype == np.float32 and xg.dtype == np.float32
    assert np.isfinite(xc).all() and np.isfinite(xg).all()
    small = task.to_model(xc)
    assert small.shape == (task.channels_c, 32, 32) and small.dtype == np.float32
    # Area resize of an exact multiple is the block mean.
    layer = np.random.default_rng(0).random((2, 64, 96)).astype(np.float32)
    expected = layer.reshape(2, 32, 2, 32, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(task.to_model(layer), expected, atol=1e-5)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_a_tasks_own_layers_fit_it_and_other_shapes_or_scales_do_not(name, photo):
    """layers_problem: a photo's layers fit their task (within 1% of each range's span); another
    task's channels, or values past the range (0-255 photo values), are named; a name that is no
    photo task (the synthetic sets) takes any layers."""
    from cdvae_core.tasks import RANGE_SLACK, layers_problem

    task = get_task(name)
    xc, xg = (task.to_model(layer)[None] for layer in task.decompose(photo))
    assert layers_problem(name, xc, xg) == ""
    other = next(t for t in TASK_NAMES if (get_task(t).channels_c, get_task(t).channels_g) != xc.shape[1:2] + xg.shape[1:2])
    assert layers_problem(other, xc, xg).startswith(f"{other} layers have ")
    low, high = task.g_range
    span = high - low
    edge = xg.copy()
    edge.flat[0] = high + 0.5 * RANGE_SLACK * span  # rounding past the edge is let through
    assert layers_problem(name, xc, edge) == ""
    edge.flat[0] = low - 2 * RANGE_SLACK * span
    assert layers_problem(name, xc, edge) == (f"'xg' values lie in [{edge.min():.4g}, {edge.max():.4g}], but "
                                              f"{name}'s x_g lies in [{low:g}, {high:g}]")
    message = layers_problem(name, xc * 255, xg)
    assert message == (f"'xc' values lie in [{xc.min() * 255:.4g}, {xc.max() * 255:.4g}], but {name}'s x_c lies in "
                       f"[0, 1] (photo values of 0-255 need dividing by 255)")
    assert layers_problem("synthetic", xc * 255, np.zeros((1, 7, 32, 32), np.float32)) == ""


def test_task_rejects_bad_input():
    task = get_task("resaturation")
    with pytest.raises(TaskError):
        task.decompose(np.zeros((10, 10), np.uint8))
    with pytest.raises(TaskError):
        task.decompose(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(TaskError, match="hue"):
        task.compose(np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.float32))


def test_resaturation_matches_hsv_definition(photo):
    task = get_task("resaturation")
    value, saturation = task.decompose(photo)
    rgb = photo.astype(np.float64) / 255
    v = rgb.max(axis=2)
    s = np.where(v > 0, (v - rgb.min(axis=2)) / np.maximum(v, 1e-12), 0)
    np.testing.assert_allclose(value[0], v, atol=1e-5)
    np.testing.assert_allclose(saturation[0], s, atol=1e-5)
    # Grey gives saturation 0, not an error.
    grey = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    _, s_grey = task.decompose(grey)
    assert np.abs(s_grey).max() == 0.0
    # The way back: the photo's own saturation reproduces it; zero saturation makes it grey.
    back = task.compose(value, saturation, image=photo)
    assert np.abs(back.astype(int) - photo.astype(int)).max() <= 1
    grey_back = task.compose(value, task.to_model(np.zeros_like(saturation)), image=photo)
    assert np.abs(grey_back.astype(int).max(axis=2) - grey_back.astype(int).min(axis=2)).max() <= 1


def test_poisson_reintegrate_recovers_a_field():
    r = np.random.default_rng(1).normal(size=(23, 31))
    out = poisson_reintegrate(np.diff(r, axis=1), np.diff(r, axis=0))
    np.testing.assert_allclose(out - out.mean(), r - r.mean(), atol=1e-9)


def test_relighting_reconstructs_and_beats_luminance_baseline():
    task = get_task("relighting")
    ours, base = [], []
    for seed in range(4):
        image, albedo, shading = synthetic_intrinsic(seed)
        a, s = task.decompose(image)
        assert a.min() >= 0 and a.max() <= 1 and s.min() > 0 and s.max() <= 1
        # albedo x shading reproduces the image: stated error <= 1% mean, on these scenes.
        rebuilt = (a * s).transpose(1, 2, 0)
        assert np.abs(rebuilt - image / 255.0).mean() < 0.01
        # the albedo is the photo over the (clipped) shading, clipped to [0, 1], channel for channel
        photo = image.astype(np.float32) * np.float32(1.0 / 255.0)  # as tasks read photos
        np.testing.assert_array_equal(a, np.clip(photo / s[0][:, :, None], 0, 1).transpose(2, 0, 1))
        ours.append(intrinsic_scores(albedo, shading, a.transpose(1, 2, 0), s[0])["mean"])
        base.append(intrinsic_scores(albedo, shading, *luminance_baseline(image))["mean"])
    assert np.mean(ours) < np.mean(base) / 3
    composed = task.compose(a, s)
    assert np.abs(composed.astype(float) - image).mean() < 3.0


def test_lmse_is_scale_invariant_and_detects_errors():
    truth = np.random.default_rng(2).random((40, 40))
    assert lmse(truth, 3.0 * truth) < 1e-12
    assert lmse(truth, np.ones_like(truth)) > 0.05


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_motion_flow_of_a_known_pan(photo):
    task = get_task("motion")
    frame0 = cv2.resize(photo, (160, 120), interpolation=cv2.INTER_AREA)
    frame1 = _shift(frame0, 6.0, -3.0)  # content moves 6 px right, 3 px up in one second
    xc, flow = task.decompose_pair(frame0, frame1)
    np.testing.assert_allclose(xc.transpose(1, 2, 0), frame0 / 255.0, atol=1e-6)
    inner = flow[:, 15:-15, 15:-15]
    expected = (6.0 * 32 / 160, -3.0 * 32 / 120)  # model pixels per second
    assert abs(np.median(inner[0]) - expected[0]) < 0.1
    assert abs(np.median(inner[1]) - expected[1]) < 0.1
    # Half a second apart: the same displacement is twice the speed.
    _, fast = task.decompose_pair(frame0, frame1, seconds=0.5)
    assert abs(np.median(fast[0, 15:-15, 15:-15]) - 2 * expected[0]) < 0.2
    # One photo alone has no motion.
    assert not task.decompose(frame0)[1].any()


def test_motion_compose_moves_content(photo):
    task = get_task("motion")
    frame = cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA)
    xc, _ = task.decompose(frame)
    flow = np.zeros((2, 32, 32), np.float32)
    flow[0] = 2.0  # two model pixels = 8 frame pixels to the right
    moved = task.compose(xc, flow)
    np.testing.assert_array_equal(moved[:, 20:100], frame[:, 12:92])


def test_move_frame_moves_by_fractions_of_the_flow(photo):
    from cdvae_core.tasks.motion import move_frame

    frame = cv2.resize(photo, (96, 64), interpolation=cv2.INTER_AREA)
    shift = np.zeros((2, 64, 96), np.float32)
    shift[0], shift[1] = 6.0, -4.0  # 6 px right, 4 px up
    moved = move_frame(frame, shift)  # uint8 in, uint8 out, as the Studio's Play shows it
    assert moved.dtype == np.uint8 and moved.shape == frame.shape
    np.testing.assert_array_equal(moved[:60, 6:], frame[4:, :90])
    np.testing.assert_array_equal(moved[:, :6], np.repeat(moved[:, 6:7], 6, axis=1))  # the edge column repeated
    np.testing.assert_array_equal(move_frame(frame, shift * 0), frame)
    half = move_frame(frame, shift * 0.5)
    np.testing.assert_array_equal(half[:62, 3:], frame[2:, :93])
    with pytest.raises(TaskError, match="shift must have shape"):
        move_frame(frame, shift[:, :32])


def test_dis_beats_farneback_on_synthetic_clips():
    photos = builtin_images()
    errors = {"dis": [], "farneback": []}
    for k, (_, image) in enumerate(photos[:3]):
        h, w = image.shape[:2]
        params = MotionParams(kind="pan", cx=w / 2, cy=h / 2, view=min(h, w) * 0.5, flip=False, pan=(2.5, -1.5))
        f0, f1, truth = render_clip(image, params)
        assert np.allclose(truth[0], 2.5) and np.allclose(truth[1], -1.5)
        for method in errors:
            errors[method].append(endpoint_error(flow_model_units(f0, f1, method=method), truth))
    assert np.mean(errors["dis"]) < 0.3
    assert np.mean(errors["dis"]) <= np.mean(errors["farneback"]) + 0.05


def _stripes(angle_deg: float, size: int = 240) -> np.ndarray:
    """Grey stripes (size, size, 3) uint8 whose intensity varies along direction angle_deg."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.deg2rad(angle_deg)
    wave = np.sin(2 * np.pi * (xs * np.cos(t) + ys * np.sin(t)) / 24.0)
    return np.repeat((127 + 100 * wave).astype(np.uint8)[:, :, None], 3, axis=2)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0])
def test_dominant_gradient_finds_the_stripes_direction(angle):
    direction = dominant_gradient(_stripes(angle), 120.0, 120.0, 160.0)
    expected = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    assert abs(float(direction @ expected)) > 0.99  # the line, either sign
    assert dominant_gradient(np.full((50, 50, 3), 90, np.uint8), 25.0, 25.0, 40.0).tolist() == [1.0, 0.0]


def test_synthetic_motion_follows_the_frame_and_leaves_the_sign_open():
    """Pans run across the view's stripes, cut-outs along their long axis, both ways."""
    rng = np.random.default_rng(0)
    photo = _stripes(60.0)
    line = np.array([np.cos(np.deg2rad(60.0)), np.sin(np.deg2rad(60.0))])
    pans, objects = [], []
    for _ in range(400):
        p = random_motion(rng, photo)
        if p.kind == "pan":
            pans.append(np.asarray(p.pan))
        elif p.kind == "cutout":
            objects.append(p)
    pans = np.array(pans)
    speed = np.linalg.norm(pans, axis=1)
    assert len(pans) > 50 and np.allclose(np.abs(pans @ line), speed, rtol=1e-3)  # on the line
    assert 0.3 < float(np.mean(pans @ line > 0)) < 0.7  # both directions along it
    assert speed.min() >= 1.5 and speed.max() <= 4.0
    for p in objects:
        long_axis = int(np.argmax(p.obj_radius))
        assert max(p.obj_radius) >= 1.6 * min(p.obj_radius) - 1e-9
        assert p.obj_vel[1 - long_axis] == 0.0 and 2.0 <= abs(p.obj_vel[long_axis]) <= 6.0
    assert {np.sign(p.obj_vel[int(np.argmax(p.obj_radius))]) for p in objects} == {-1.0, 1.0}
    # the rendered clip moves that way: DIS flow of a pan lies on the line
    pan = next(p for p in (random_motion(rng, photo) for _ in range(50)) if p.kind == "pan" and not p.flip)
    f0, f1, truth = render_clip(photo, pan)
    flow = flow_model_units(f0, f1).reshape(2, -1).mean(1)
    assert abs(float(flow @ line)) > 0.8 * float(np.linalg.norm(pan.pan))


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("shape,fill", [((5, 7, 3), 0), ((40, 30, 3), 255), ((300, 2, 3), 90), ((2, 2, 3), 30)])
def test_degenerate_images_stay_finite(name, shape, fill):
    task = get_task(name)
    image = np.full(shape, fill, np.uint8)
    xc, xg = task.decompose(image)
    assert np.isfinite(xc).all() and np.isfinite(xg).all()
    assert task.compose(xc, task.to_model(xg), image=image).shape == shape
    if name == "motion":
        _, flow = task.decompose_pair(image, image)
        assert flow.shape == (2,) + shape[:2] and np.abs(flow).max() < 1e-3
    if name == "resaturation":
        assert not xg.any()  # a grey image has no saturation


def _reference_borrowing(hue: np.ndarray, s_old: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hue_borrowing as its docstrings define it, at full resolution in float64: He, Sun and Tang's
    guided filter written out with scipy's box means (mirrored edges, as OpenCV's)."""
    from scipy.ndimage import uniform_filter

    from cdvae_core.tasks.resaturation import HUE_EDGE_EPS, HUE_WINDOW, RELIABLE_SATURATION

    size = 2 * max(1, round(HUE_WINDOW * max(hue.shape) * np.sqrt(3))) + 1
    box = lambda x: uniform_filter(x, size, mode="reflect")  # noqa: E731
    guide = value.astype(np.float64)
    mean_i, var_i = box(guide), box(guide * guide) - box(guide) ** 2

    def guided(p: np.ndarray) -> np.ndarray:
        a = (box(guide * p) - mean_i * box(p)) / (var_i + HUE_EDGE_EPS)
        b = box(p) - a * mean_i
        return box(a) * guide + box(b)

    rad = np.deg2rad(hue.astype(np.float64))
    vx, vy = guided(s_old * np.cos(rad)), guided(s_old * np.sin(rad))
    return np.rad2deg(np.arctan2(vy, vx)) % 360.0, np.clip(np.hypot(vx, vy) / RELIABLE_SATURATION, 0.0, 1.0)


def _gaussian_borrowing(hue: np.ndarray, s_old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window the borrowing had before: a plain Gaussian of the same spread, blind to edges."""
    from cdvae_core.tasks.resaturation import HUE_WINDOW, RELIABLE_SATURATION

    rad, sigma = np.deg2rad(hue), HUE_WINDOW * max(hue.shape)
    vx = cv2.GaussianBlur(s_old * np.cos(rad), (0, 0), sigma)
    vy = cv2.GaussianBlur(s_old * np.sin(rad), (0, 0), sigma)
    return np.rad2deg(np.arctan2(vy, vx)) % 360.0, np.clip(np.hypot(vx, vy) / RELIABLE_SATURATION, 0.0, 1.0)


def test_a_grey_photo_has_no_hue_to_resaturate_and_a_small_coloured_patch_has(photo):
    from cdvae_core.tasks.resaturation import has_hue

    rng = np.random.default_rng(3)
    grey = np.repeat((np.indices((300, 400)).sum(0) % 256).astype(np.uint8)[:, :, None], 3, axis=2)
    assert not has_hue(grey)
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(grey[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 60])
    noisy = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1]
    noisy = np.clip(noisy.astype(np.int16) + rng.integers(-1, 2, noisy.shape), 0, 255).astype(np.uint8)
    assert not has_hue(noisy)  # chroma noise of a grey JPEG is not colour
    patched = grey.copy()
    patched[100:112, 200:212] = (200, 40, 40)  # 0.12% of the photo, a red stamp: results differ there
    assert has_hue(patched)
    assert has_hue(photo)


def test_resaturation_borrows_hue_along_a_surface_and_not_across_its_edge():
    """Raising the saturation of noisy near-grey pixels takes the hue of their surroundings on the
    same surface, not noise: a grey as bright as the red beside it turns reddish. Beyond a
    brightness edge it takes nothing: a Gaussian window tinted a grey sky yellow-green for a tree's
    width around the tree (the grey here beside dark green, as the test shows it would have)."""
    from cdvae_core.tasks import get_task

    rng = np.random.default_rng(0)
    image = np.full((64, 96, 3), 200, np.uint8)
    image[:, :24] = (200, 60, 60)  # red as bright (value 200) as the grey beside it: one surface
    image[:, 72:] = (40, 110, 40)  # dark green: a brightness edge at column 72
    noisy = image.astype(np.int16)
    noisy[:, 24:72] += rng.integers(-3, 4, (64, 48, 3))  # grey with colour noise in between
    image = np.clip(noisy, 0, 255).astype(np.uint8)
    task = get_task("resaturation")
    xc, xg = task.decompose(image)
    # the photo's own saturation still recomposes the photo
    assert np.abs(task.compose(xc, xg, image=image).astype(int) - image).max() <= 1
    raised = task.compose(xc, np.full_like(xg, 0.6), image=image).astype(int)
    near_red = raised[:, 24:27]
    # next to the red region the grey turns reddish (hue near 0), not a random hue per pixel
    assert (near_red[:, :, 0] > near_red[:, :, 1] + 20).all()
    # far from any colour there is nothing to borrow: the grey stays grey instead of taking noise
    # colours (the photo's noise spans up to 6 levels there; painting noise hues would give ~80)
    assert np.ptp(raised[:, 34:62], axis=2).max() <= 20
    # beside the green, beyond the edge: a trace of the filter's own narrow fringe (one run: 8.9
    # levels on average over 8 columns, 33 at most) where the Gaussian window painted it green
    # (67.7 on average, 122 at the edge: fully saturated green)
    hsv = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    gaussian = tuple(a.astype(np.float32) for a in _gaussian_borrowing(hsv[:, :, 0], hsv[:, :, 1]))
    painted = task.compose(xc, np.full_like(xg, 0.6), image=image, prepared=gaussian).astype(int)
    fringe, halo = np.ptp(raised[:, 64:72], axis=2), np.ptp(painted[:, 64:72], axis=2)
    assert halo.mean() > 50 and fringe.mean() < halo.mean() / 4 and fringe.max() <= 40


def test_resaturation_borrows_hue_only_beyond_the_tolerance():
    """A rise of one float rounding step is no rise: it kept the hue of a near-grey pixel; a
    rise beyond BORROW_TOLERANCE still borrows the surroundings' hue."""
    from cdvae_core.tasks.resaturation import BORROW_TOLERANCE, borrow_mask

    s_old = np.array([0.0, 0.02, 0.05, 0.09, 0.5], np.float32)
    ulp = np.nextafter(s_old, np.float32(1))
    assert not borrow_mask(s_old, ulp).any()
    assert not borrow_mask(s_old, s_old + np.float32(0.5 * BORROW_TOLERANCE)).any()
    assert borrow_mask(s_old, s_old + np.float32(2 * BORROW_TOLERANCE)).tolist() == [True] * 4 + [False]


@pytest.mark.parametrize("shape", [(8, 8), (10, 300), (12, 40)])
def test_still_tiny_or_thin_frames_have_no_flow(photo, shape):
    """Frames under 16 px on a side are enlarged for DIS; frame0 used to be enlarged bilinearly
    and frame1 by area (nearest), so two identical textured frames showed up to 0.9 model px/s
    of motion (a still strip of video became a moving one)."""
    frame = np.ascontiguousarray(cv2.resize(photo, shape[::-1], interpolation=cv2.INTER_AREA))
    assert np.abs(flow_model_units(frame, frame)).max() < 1e-3
    _, flow = get_task("motion").decompose_pair(frame, frame.copy())
    assert np.abs(flow).max() < 1e-3


def test_a_tiny_frame_leaves_every_later_flow_as_it_was(photo):
    """DIS adapts its pyramid to a frame too small for its preset and kept that for the thread:
    after one 8 x 8 still, every later flow came out of a finer pyramid (a different flow), so a
    pair set prepared in one process differed from one prepared by worker processes."""
    import threading

    frame0 = np.ascontiguousarray(photo[:96, :128])
    frame1 = np.ascontiguousarray(photo[3:99, 5:133])  # the view moved
    before = flow_model_units(frame0, frame1)
    tiny = np.ascontiguousarray(cv2.resize(photo, (8, 8), interpolation=cv2.INTER_AREA))
    flow_model_units(tiny, tiny)
    np.testing.assert_array_equal(flow_model_units(frame0, frame1), before)
    fresh = []  # another thread has its own, fresh DIS instance
    thread = threading.Thread(target=lambda: fresh.append(flow_model_units(frame0, frame1)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(fresh[0], before)
    with pytest.raises(TaskError, match="too small for DIS flow"):  # DIS itself crashed the process
        flow_pixels(tiny, tiny)


def test_resaturation_borrowing_is_the_guided_filter_and_large_photos_stay_near_it(monkeypatch):
    """Up to HUE_MAX_SIDE the borrowing is the guided filter written out in float64 with scipy
    (``_reference_borrowing``). Beyond it the filter's coefficients come from an area-reduced copy
    (12 s -> 0.5 s per result on a 4000 px photo when the window was a Gaussian): the borrowing
    stays near the full-resolution filter's and the composed photo within a few grey levels of
    the full-resolution compose's (one run: 5 at most, 0.003% of pixels more than 2)."""
    from cdvae_core.tasks.resaturation import HUE_MAX_SIDE, hue_borrowing

    task = get_task("resaturation")
    astronaut = builtin_images()[0][1]
    for side in (HUE_MAX_SIDE, 2000):
        image = cv2.resize(astronaut, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        hsv = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
        hue, confidence = hue_borrowing(hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2])
        exact_hue, exact_confidence = _reference_borrowing(hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2])
        hue_error = np.abs((hue - exact_hue + 180) % 360 - 180)
        if side <= HUE_MAX_SIDE:
            assert np.abs(confidence - exact_confidence).max() < 1e-5
            assert hue_error[exact_confidence > 0.01].max() < 0.01  # degrees, where there is a hue
            continue
        assert np.abs(confidence - exact_confidence).max() < 0.05
        assert hue_error[exact_confidence > 0.2].max() < 5.0  # where it carries visible colour
        xc, xg = task.decompose(image)
        raised = np.clip(xg + 0.4, 0, 1)  # 40% of the pixels borrow
        fast = task.compose(xc, raised, image=image).astype(int)
        with monkeypatch.context() as patch:
            patch.setattr("cdvae_core.tasks.resaturation.HUE_MAX_SIDE", 10 ** 6)
            exact = task.compose(xc, raised, image=image).astype(int)
        difference = np.abs(fast - exact).max(axis=2)
        assert difference.max() <= 8 and (difference > 2).mean() < 1e-3 and (difference > 0).mean() < 0.08


def test_to_uint8_rgb_rounds_and_clips_as_the_plain_formula():
    """The in-place version gives the bytes of clip(rint(x * 255)), the exports' pixels, for
    float32 and float64, out-of-range values and exact halves included."""
    from cdvae_core.tasks.base import to_uint8_rgb

    rng = np.random.default_rng(3)
    halves = (np.arange(256) + 0.5) / 255.0  # rint's ties go to even
    for dtype in (np.float32, np.float64):
        values = np.concatenate([rng.uniform(-0.2, 1.2, 3000), halves, [0.0, 1.0]]).astype(dtype)
        image = values[: len(values) // 3 * 3].reshape(-1, 1, 3)
        expected = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        out = to_uint8_rgb(image)
        assert out.dtype == np.uint8 and out.shape == image.shape
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("height,width,pixels", [(97, 64, 640), (6000, 8000, 1 << 20), (3, 10 ** 7, 100),
                                                 (2, 2, 1), (31, 31, 10 ** 6), (5, 4, 4)])
def test_row_strips_cover_every_row_once_with_at_least_two_rows(height, width, pixels):
    from cdvae_core.tasks.base import row_strips

    strips = row_strips(height, width, pixels)
    assert strips[0].start == 0 and strips[-1].stop == height
    assert all(a.stop == b.start for a, b in zip(strips[:-1], strips[1:]))
    assert all(s.stop - s.start >= 2 for s in strips)
    if height * width <= pixels:
        assert len(strips) == 1
    else:  # about ``pixels`` each, unless rows run out
        assert len(strips) == min(-(-height * width // pixels), height // 2)
        assert max(s.stop - s.start for s in strips) - min(s.stop - s.start for s in strips) <= 1
