"""Every setting the code reads is listed in app.json (Heroku) and in the README."""

from __future__ import annotations

import json
import re

from tests.helpers import ROOT

READERS = re.compile(
    r"""(?:\.(?:text|boolean|integer|number|choice|base_url|networks|raw)\(\s*|environ(?:\.get)?\(\s*|environ\[\s*)"([A-Z][A-Z0-9_]+)\"""",
    re.S,
)
# Read by the code, and on purpose not in app.json.
NOT_FOR_HEROKU = {
    "DYNO": "set by Heroku itself",
    "DATABASE_URL": "set by the Heroku Postgres add-on",
    "PROMETHEUS_MULTIPROC_DIR": "set by deploy/gunicorn.conf.py",
    "FLASK_DEBUG": "local development only",
    "LOCAL_ARCHIVE_DIR": "a dyno's disk does not last: S3 on Heroku",
}
NOT_SETTINGS = {"DYNO", "QUERY_STRING", "RAW_URI", "REMOTE_ADDR", "REQUEST_URI"}


def settings_read() -> set[str]:
    names: set[str] = set()
    for path in [*(ROOT / "app").rglob("*.py"), ROOT / "deploy" / "gunicorn.conf.py"]:
        names |= set(READERS.findall(path.read_text()))
    return names - (NOT_SETTINGS - {"DYNO"})


def test_the_reader_finds_the_settings():
    found = settings_read()
    assert {
        "SECRET_KEY",
        "ARCHIVE_RETRY_BASE_SECONDS",
        "TELNYX_MEDIA_HOSTS",
        "WEB_CONCURRENCY",
    } <= found


def test_app_json_lists_every_setting_the_code_reads():
    listed = set(json.loads((ROOT / "app.json").read_text())["env"])
    missing = settings_read() - listed - set(NOT_FOR_HEROKU)
    assert not missing, f"app.json does not list {sorted(missing)}"
    assert all(
        entry.get("description")
        for entry in json.loads((ROOT / "app.json").read_text())["env"].values()
    )


def test_the_readme_lists_every_setting_the_code_reads():
    readme = (ROOT / "README.md").read_text()
    missing = {name for name in settings_read() - {"DYNO"} if f"`{name}`" not in readme}
    assert not missing, f"the README does not list {sorted(missing)}"


def test_app_json_runs_web_and_worker_on_postgresql():
    manifest = json.loads((ROOT / "app.json").read_text())
    assert set(manifest["formation"]) == {"web", "worker"}
    assert any(addon["plan"].startswith("heroku-postgresql") for addon in manifest["addons"])
    assert manifest["env"]["SECRET_KEY"].get("generator") == "secret"
