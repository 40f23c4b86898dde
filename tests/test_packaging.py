"""cdvae_core is usable without Qt: the import-linter contract in pyproject.toml holds, and
importing every module of the library loads no Qt package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
