"""Honest dependencies: what app/ imports is declared, every declared range has a floor
(scripts/floors runs the suite on them), and the hashed locks that deploys install were made
from pyproject.toml's current dependency lists."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.txt", "requirements-test.txt")


def run_lock(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(cwd / "scripts" / "lock"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {canonicalize_name(Requirement(text).name) for text in listed}


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / lock).read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name, _, version = line.split(" ")[0].partition("==")
            found[canonicalize_name(name)] = version
    return found


def test_every_distribution_that_app_imports_is_a_declared_runtime_dependency() -> None:
    modules = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = packages_distributions()
    imported = {
        canonicalize_name(dist)
        for module in modules
        # _typeshed exists only for type checkers (imported under TYPE_CHECKING).
        if module not in sys.stdlib_module_names and module not in ("app", "_typeshed")
        for dist in owners.get(module, [module])
    }
    assert imported - declared() == set()


def test_every_direct_dependency_has_a_floor_to_install_exactly() -> None:
    answer = run_lock("--floors")
    assert answer.returncode == 0, answer.stderr
    floors = dict(line.split("==") for line in answer.stdout.split())
    assert {canonicalize_name(n) for n in floors} == declared() | declared("test")
    assert floors["botocore"] == "1.36"  # request_checksum_calculation's first release


def test_the_locks_were_made_from_the_current_dependency_lists() -> None:
    answer = run_lock("--check")
    assert answer.returncode == 0, answer.stderr


def test_changing_a_dependency_list_without_relocking_is_refused(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    for name in ("pyproject.toml", ".python-version", "scripts/lock", *LOCKS):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"tenacity>=9"', '"tenacity>=9.1"'))
    answer = run_lock("--check", cwd=tmp_path)
    assert answer.returncode == 1
    assert "requirements.txt, requirements-test.txt" in answer.stderr
    assert "run scripts/lock" in answer.stderr


def test_every_locked_requirement_is_pinned_and_hashed() -> None:
    for lock in LOCKS:
        entries = [
            line
            for line in (ROOT / lock).read_text().split("\n")
            if line and not line[0].isspace() and not line.startswith("#")
        ]
        assert entries, lock
        for entry in entries:
            assert "==" in entry and entry.endswith("\\"), f"{lock}: {entry}"
            assert not entry.startswith("-"), f"{lock}: {entry}"  # no -e ., no options


def test_the_suite_runs_on_the_versions_a_deploy_installs() -> None:
    runtime, test = pins("requirements.txt"), pins("requirements-test.txt")
    assert {name: test.get(name) for name in runtime} == runtime
    assert declared() <= set(runtime)
    assert "twilio" not in runtime  # only the tests compare against Twilio's validator
