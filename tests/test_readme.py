"""The README's "Try it locally" works as pasted: its three terminals, run as written in a
copy of the repository (on ports of their own), show what the README says they show."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import wave
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import requests

from tests.helpers import ROOT
from tests.procfile import proc_stat

BLOCK = re.compile(r"<!-- try-it-locally: terminal (\d) -->\s*```sh\n(.*?)```", re.S)
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
RECORDING = "RE0123456789abcdef0123456789abcdef"


def terminals(service_port: int = 5000, fake_port: int = 8099) -> dict[int, str]:
    """The README's blocks, with its ports replaced by ours (so a service the user
    runs on 5000, or a test run beside this one, is no obstacle)."""
    blocks = {int(n): body for n, body in BLOCK.findall((ROOT / "README.md").read_text())}
    return {
        n: re.sub(r"\b8099\b", str(fake_port), re.sub(r"\b5000\b", str(service_port), body))
        for n, body in blocks.items()
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def clean_env(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **extra}


def as_in_a_terminal() -> None:
    """A terminal's shell runs commands with Ctrl-C at its default. This test may
    itself run as a background job (``.ci/run &``), which starts with SIGINT and
    SIGQUIT ignored, and an ignored signal is inherited and cannot be trapped."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def start(script: str, cwd: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``script`` in a session of its own (a terminal of its own), so everything it
    starts, in whatever process group, can be found and ended afterwards."""
    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=as_in_a_terminal,
        )


def session_members(session: int) -> list[int]:
    """Live processes of ``session`` (from /proc: field 6 of stat is the session)."""
    members = []
    for entry in os.listdir("/proc"):
        fields = proc_stat(entry) if entry.isdigit() else None  # None: it ended while we looked
        if fields is not None and fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry))
    return members


def end_sessions(processes: list[subprocess.Popen[bytes]], grace: float) -> tuple[float, list[int]]:
    """Ctrl-C to each, as a person would; whatever is left of their sessions after
    ``grace`` seconds is killed. Returns the seconds until all had stopped, and the
    processes that had to be killed."""
    began = time.monotonic()
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    deadline = began + grace
    while time.monotonic() < deadline:
        for process in processes:
            process.poll()  # reap, so an ended leader is not counted
        if not any(session_members(p.pid) for p in processes):
            break
        time.sleep(0.1)
    took = time.monotonic() - began
    killed = [pid for p in processes for pid in session_members(p.pid)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for process in processes:
        process.wait(timeout=10)
    return took, killed


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
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


def mp3_frames(data: bytes) -> list[bytes]:
    """The frames of an MPEG-1 Layer III stream, walked header to header; each must
    follow the last exactly, to the end of the file, as a player reads them."""
    bitrates = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    frames, offset = [], 0
    while offset < len(data):
        header = int.from_bytes(data[offset : offset + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {offset}"
        assert (header >> 19) & 3 == 3 and (header >> 17) & 3 == 1, "not MPEG-1 Layer III"
        bitrate = bitrates[(header >> 12) & 15] * 1000
        rate = (44100, 48000, 32000)[(header >> 10) & 3]
        length = 144 * bitrate // rate + ((header >> 9) & 1)
        frames.append(data[offset : offset + length])
        offset += length
    assert offset == len(data) and frames
    return frames


def carries_sound(frame: bytes) -> bool:
    """A mono frame's first granule codes spectral lines (big_values) at a gain."""
    side = int.from_bytes(frame[4:21], "big")
    granule = side >> (136 - 18 - 59)  # after main_data_begin, private bits, scfsi
    big_values = (granule >> (59 - 12 - 9)) & 0x1FF
    gain = (granule >> (59 - 12 - 9 - 8)) & 0xFF
    return big_values > 0 and gain > 150


def logged_in(base: str, username: str, password: str) -> requests.Session:
    """A browser session logged in to the console. (Browsers send a Secure session
    cookie to http://127.0.0.1; Python's cookie jar does not, so it is told to.)"""
    browser = requests.Session()
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
    return browser


def recording_page(browser: requests.Session, base: str) -> str:
    listing = browser.get(f"{base}/admin/", allow_redirects=False, timeout=5)
    assert listing.status_code == 200, listing.status_code
    link = re.search(r'href="(/admin/recordings/\d+)"[^>]*title="' + RECORDING, listing.text)
    assert link, listing.text
    page = browser.get(base + link.group(1), timeout=5)
    assert page.status_code == 200
    return page.text


def test_the_readme_has_three_terminals():
    assert sorted(terminals()) == [1, 2, 3]


def test_try_it_locally_works_as_pasted(tmp_path):
    repo = copy_of_the_repository(tmp_path / "repo")
    service_port, fake_port = free_port(), free_port()
    base, fake_base = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{fake_port}"
    blocks = terminals(service_port, fake_port)
    fake_log, service_log = tmp_path / "terminal-1.log", tmp_path / "terminal-2.log"
    started = []
    try:
        # Terminal 1 first, as the README has it: Twilio is up before the service.
        started.append(start(blocks[1], repo, fake_log, clean_env()))
        wait_for(lambda: answers(f"{fake_base}/"), 30, "the fake API")
        # The README's PORT=5001 advice: the user's shell may say where to listen.
        started.append(start(blocks[2], repo, service_log, clean_env(PORT=str(service_port))))
        wait_for(lambda: "serve: listening" in service_log.read_text(), 120, "the service")
        assert answers(f"{base}/healthz"), "it said listening before it answered"

        # The worker's first reconciliation reaches the fake, which lists its
        # recording as still processing: left to the callback.
        wait_for(lambda: "Recordings.json -> 200" in fake_log.read_text(), 30, "the listing")
        wait_for(
            lambda: "scheduled reconcile of twilio: 1 listed, 0 queued" in service_log.read_text(),
            30,
            "the reconciliation's summary",
        )
        startup = service_log.read_text()
        assert "recordings are copied into the local folder" in startup
        assert f"{repo / 'instance' / 'archive'}" in startup
        assert "originals are kept at the provider" in startup
        assert startup.count("serve: listening") == 1

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
        assert f"POST {base}/webhooks/twilio/recording-status: 204" in third.stdout

        archive = repo / "instance" / "archive" / "twilio" / ACCOUNT
        wait_for(
            lambda: f"archived twilio {RECORDING}" in service_log.read_text(), 30, "the archive"
        )
        files = sorted(p.name for p in archive.rglob("*") if p.is_file())
        assert files == [f"{RECORDING}.mp3", f"{RECORDING}.mp3.meta.json"]
        assert all(
            str(p.relative_to(repo)) in third.stdout for p in archive.rglob("*") if p.is_file()
        )
        seen = fake_log.read_text()
        assert re.search(rf"GET \S+/{RECORDING}\.mp3 -> 200", seen), seen
        assert "DELETE" not in seen, "the local folder's default keeps the original"

        # What the player plays is sound: an MP3 whose every frame codes a tone.
        (stored,) = archive.rglob(f"{RECORDING}.mp3")
        frames = mp3_frames(stored.read_bytes())
        assert len(frames) > 50 and all(carries_sound(f) for f in frames)

        with logged_in(base, "admin", "try-it-locally") as browser:
            page = recording_page(browser, base)
            assert page.count('class="event"') == 1, "one callback"
            player = re.search(r'<audio controls[^>]* src="([^"]+)"', page)
            assert player, page
            media = browser.get(base + player.group(1), timeout=5)
            assert media.status_code == 200
            assert media.headers["Content-Type"].startswith("audio/mpeg")
            assert mp3_frames(media.content) == frames

            # "Run the send-test-callback command again": a repeat, stored once
            # (the block waits 3 s, so a callback stamped with the time would differ).
            again = subprocess.run(
                ["bash", "-c", blocks[3]],
                cwd=repo,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert again.returncode == 0, again.stdout + again.stderr
            assert ": 204" in again.stdout
            assert recording_page(browser, base).count('class="event"') == 1, "a repeat"

        # The fake's WAV is sound too: a few seconds of a tone, not random bytes.
        wav = requests.get(
            f"{fake_base}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}.wav",
            auth=(ACCOUNT, "try-it-locally"),
            timeout=5,
        )
        with wave.open(BytesIO(wav.content)) as reader:
            assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
            assert 2 <= reader.getnframes() / reader.getframerate() <= 10
            pcm = reader.readframes(reader.getnframes())
        samples = memoryview(pcm).cast("h")
        assert max(samples) > 5000 and min(samples) < -5000
    finally:
        # Ctrl-C, as a person would; whatever is left after 15 s is killed.
        stopped = end_sessions(started, grace=15)
    took, killed = stopped
    assert not killed, f"still running after Ctrl-C: {killed}"
    assert took < 5
