"""The layers hold: ``lint-imports`` keeps the contracts in pyproject.toml, and breaks on a
provider that reaches for our tables, a domain module that reaches for the web, a module
that reaches up to ``create_app``, or a module that has no layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(source_root))
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layer_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "import_line"),
    [
        ("providers/__init__.py", "import app.recordings.models"),
        ("storage/__init__.py", "import app.providers"),
        ("recordings/queries.py", "import app.archive.pipeline"),
        ("providers/base.py", "import sqlalchemy"),
        # The domain knows nothing of the web.
        ("recordings/queries.py", "import flask"),
        ("archive/pipeline.py", "import werkzeug.exceptions"),
        ("archive/naming.py", "import app.extensions"),
        ("recordings/reports.py", "import app.web"),
        # create_app wires everything: nothing inside the package reaches up to it.
        ("cli.py", "from app import create_app"),
        ("web.py", "import app.extensions"),
    ],
)
def test_an_import_against_the_layers_breaks_the_contract(tmp_path, module, import_line):
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "app" / module
    target.write_text(target.read_text() + f"\n{import_line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def test_a_module_with_no_layer_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "app" / "unplaced.py").write_text("import app.db  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "unplaced" in result.stdout + result.stderr
