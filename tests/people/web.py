"""Helpers for people tests against the Procfile's web process: sign in with requests."""

from __future__ import annotations

import re

import requests

HTML = {"Accept": "text/html"}


def form_token(http: requests.Session, url: str) -> str:
    page = http.get(url, headers=HTML, timeout=10).text
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(base_url: str, username: str, password: str) -> tuple[requests.Session, int]:
    """A browser-like session through the real login form, and the login's status."""
    http = requests.Session()
    token = form_token(http, f"{base_url}/admin/login")
    response = http.post(
        f"{base_url}/admin/login",
        data={"csrf_token": token, "username": username, "password": password},
        headers=HTML,
        allow_redirects=False,
        timeout=30,
    )
    return http, response.status_code


def metric(base_url: str, name: str, token: str) -> float:
    text = requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
