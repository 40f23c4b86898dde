"""cdvae_core is usable without Qt: the import-linter contract in pyproject.toml holds, and
importing every module of the library loads no Qt package. A regular install carries the
shipped assets and finds them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cdvae_core.assets import SHARED

ROOT = Path(__file__).resolve().parents[1]
QT_PACKAGES = ("PySide6", "pyqtgraph", "superqt", "qtpy", "cdvae_studio")


def test_import_linter_contract_is_kept(monkeypatch, capsys):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)  # the contract lives in pyproject.toml
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 kept, 0 broken" in out  # the contract was read and checked, not skipped as misconfigured


def test_importing_every_core_module_loads_no_qt():
    script = (
        "import importlib, pkgutil, sys\n"
        "import cdvae_core\n"
        "for m in pkgutil.walk_packages(cdvae_core.__path__, 'cdvae_core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {QT_PACKAGES!r})\n"
        "print(len([n for n in sys.modules if n.startswith('cdvae_core')]), bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert int(run.stdout.split()[0]) > 30  # the walk really imported the library's modules


def test_reading_photos_and_post_processing_load_no_torch():
    """cdvae_core.data's names load on first use: reading a photo or a video (data.images,
    data.video) and the post-processing package stay torch-free, as postprocess says."""
    script = (
        "import sys\n"
        "import cdvae_core.postprocess, cdvae_core.data.images, cdvae_core.data.video, cdvae_core.data.errors\n"
        "loaded = 'torch' in sys.modules\n"
        "from cdvae_core.data import DataError, FeatureSettings, prepare_pairs\n"  # still importable by name
        "print(loaded, 'torch' in sys.modules, DataError.__module__, prepare_pairs.__module__)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "cdvae_core.data.errors", "cdvae_core.data.prepare"]


def _data_files() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the CI's Python has it
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["setuptools"]["data-files"]


def test_a_regular_install_carries_every_shipped_asset():
    """``pip install .`` (a wheel) has no checkout to read assets/ from: pyproject's data-files
    copy it to share/cdvae-studio/assets. Each file under assets/ must be listed, in the folder
    that mirrors its own (a new built-in model folder needs its own line)."""
    shipped = {}
    for target, patterns in _data_files().items():
        assert target.startswith(SHARED), target
        for pattern in patterns:
            for path in ROOT.glob(pattern):
                if path.is_file():
                    shipped[path.relative_to(ROOT).as_posix()] = target
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "assets").rglob("*") if p.is_file())
    assert on_disk and sorted(shipped) == on_disk
    for source, target in shipped.items():
        assert f"{target}/{Path(source).name}" == SHARED + source[len("assets/"):], source


def test_an_installed_copy_of_the_assets_is_found_from_the_distributions_record(tmp_path, monkeypatch):
    """The record of a wheel install lists data files relative to site-packages (a venv, ~/.local
    or the system); ``installed_assets`` follows it to the copy, and ``assets_dir`` uses it when
    there is no checkout."""
    from importlib import metadata

    from cdvae_core import assets

    site = tmp_path / "lib" / "site-packages"
    info = site / "cdvae_studio-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cdvae-studio\nVersion: 0.1.0\n")
    model = tmp_path / SHARED / "models" / "motion" / "gauss" / "config.json"
    model.parent.mkdir(parents=True)
    model.write_text("{}")
    (info / "RECORD").write_text(f"cdvae_core/__init__.py,,\n../../{SHARED}models/motion/gauss/config.json,,\n")
    monkeypatch.setattr(assets.metadata, "distribution", lambda name: metadata.PathDistribution(info))
    assets.installed_assets.cache_clear()
    monkeypatch.setattr(assets, "checkout_assets", lambda: tmp_path / "no checkout")
    try:
        assert assets.installed_assets() == (tmp_path / SHARED).resolve()
        assert assets.assets_dir() == (tmp_path / SHARED).resolve()

        def not_installed(name):
            raise metadata.PackageNotFoundError(name)

        monkeypatch.setattr(assets.metadata, "distribution", not_installed)
        assets.installed_assets.cache_clear()
        assert assets.installed_assets() is None
        assert assets.assets_dir() == tmp_path / "no checkout"  # neither: a path where nothing is found
    finally:
        assets.installed_assets.cache_clear()
