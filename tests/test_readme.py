"""The README's "Try it locally" works as pasted: its three terminals, run as written in a
copy of the repository, archive the fake recording and delete the original."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import ROOT

BLOCK = re.compile(r"<!-- try-it-locally: terminal (\d) -->\s*```sh\n(.*?)```", re.S)


def terminals() -> dict[int, str]:
    return {int(n): body for n, body in BLOCK.findall((ROOT / "README.md").read_text())}


def copy_of_the_repository(target: Path) -> Path:
    """The files git would clone (tracked and new ones), and the installed .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    return {k: v for k, v in os.environ.items() if k in keep}


def start(script: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=clean_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def console_listing(base: str, username: str, password: str) -> str:
    """Log in as a browser would and read the listing. (Browsers send the Secure session
    cookie to http://127.0.0.1; Python's cookie jar does not, so it is told to.)"""
    with requests.Session() as browser:
        page = browser.get(f"{base}/admin/login", timeout=5).text
        for cookie in browser.cookies:
            cookie.secure = False
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert token, page
        login = browser.post(
            f"{base}/admin/login",
            data={"csrf_token": token.group(1), "username": username, "password": password},
            allow_redirects=False,
            timeout=5,
        )
        assert login.status_code == 302, login.text
        for cookie in browser.cookies:
            cookie.secure = False
        listing = browser.get(f"{base}/admin/", allow_redirects=False, timeout=5)
        assert listing.status_code == 200, listing.status_code
        return listing.text


def test_the_readme_has_three_terminals():
    assert sorted(terminals()) == [1, 2, 3]


@pytest.mark.skipif(
    any(answers(f"http://127.0.0.1:{p}/") for p in (5000, 8099)),
    reason="ports 5000 or 8099 are taken on this machine",
)
def test_try_it_locally_works_as_pasted(tmp_path):
    repo = copy_of_the_repository(tmp_path / "repo")
    blocks = terminals()
    service = start(blocks[1], repo, tmp_path / "terminal-1.log")
    fake = start(blocks[2], repo, tmp_path / "terminal-2.log")
    try:
        wait_for(lambda: answers("http://127.0.0.1:5000/healthz"), 120, "the service")
        wait_for(lambda: answers("http://127.0.0.1:8099/"), 30, "the fake API")
        third = subprocess.run(
            ["bash", "-c", blocks[3]],
            cwd=repo,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert third.returncode == 0, third.stdout + third.stderr
        assert ": 204" in third.stdout

        archive = repo / "instance" / "archive" / "twilio" / "AC0123456789abcdef0123456789abcdef"
        wait_for(lambda: "DELETE" in (tmp_path / "terminal-2.log").read_text(), 30, "the delete")
        files = sorted(p.name for p in archive.rglob("*") if p.is_file())
        assert files == [
            "RE0123456789abcdef0123456789abcdef.mp3",
            "RE0123456789abcdef0123456789abcdef.mp3.meta.json",
        ]
        fake_log = (tmp_path / "terminal-2.log").read_text()
        assert re.search(r"GET \S+\.mp3 -> 200", fake_log), fake_log
        assert re.search(r"DELETE \S+\.json -> 204", fake_log), fake_log
        assert (
            "archived twilio RE0123456789abcdef0123456789abcdef"
            in (tmp_path / "terminal-1.log").read_text()
        )
        # The console shows it to the login the README gives.
        assert "RE0123456789" in console_listing("http://127.0.0.1:5000", "admin", "try-it-locally")
    finally:
        # Ctrl-C, as a person would: the service stops within a few seconds.
        stopping = time.monotonic()
        for process in (service, fake):
            os.killpg(process.pid, signal.SIGINT)
        service.wait(timeout=15)
        fake.wait(timeout=15)
    assert time.monotonic() - stopping < 5
