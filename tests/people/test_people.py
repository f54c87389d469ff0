"""Users, roles and sessions through the real login form: each role may do exactly its
row of the contract's table, and a copied cookie stops working when the session ends."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit import actions
from app.audit.models import AuditEntry
from app.recordings.models import ArchiveState
from tests.admin.helpers import HTML, csrf_token, log_in, seed

ROLES = ["viewer", "operator", "admin"]
# (method, path, the lowest role that may)
ROUTES = [
    ("GET", "/admin/", "viewer"),
    ("GET", "/admin/recordings/{id}", "viewer"),
    ("GET", "/admin/recordings/{id}/media", "viewer"),
    ("GET", "/admin/recordings/{id}/media?download=1", "viewer"),
    ("POST", "/admin/recordings/{id}/retry", "operator"),
    ("POST", "/admin/recordings/{id}/archive-again", "operator"),
    ("GET", "/admin/retry-failed", "operator"),
    ("POST", "/admin/retry-failed", "operator"),
    ("GET", "/admin/users", "admin"),
    ("POST", "/admin/users/add", "admin"),
    ("GET", "/admin/audit", "admin"),
]


def entries(connection, action=None):
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        return session.execute(query).scalars().all()


@pytest.fixture
def archived(connection, app, tmp_path):
    key = "twilio/AC0/2026/11/20/REaudio.wav"
    path = tmp_path / "archive" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RIFF" + b"\0" * 4000)
    return seed(connection, key=key, bucket="local", archive_state=ArchiveState.FAILED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "lowest"), ROUTES)
def test_each_role_may_do_exactly_its_row(client, add_user, archived, role, method, path, lowest):
    password = add_user(f"{role}1", role)
    assert log_in(client, f"{role}1", password).status_code == 302
    token = csrf_token(client, "/admin/")
    url = path.format(id=archived.id)
    response = client.open(url, method=method, data={"csrf_token": token}, headers=HTML)
    allowed = ROLES.index(role) >= ROLES.index(lowest)
    if allowed:
        assert response.status_code in (200, 206, 302), response.data[:300]
    else:
        assert response.status_code == 403
        assert f"needs the {lowest} role".encode() in response.data


# This round's actions on a recording, each with what an allowed role gets when the
# request itself decides (a legal hold on the local folder is a 409, saying why).
MORE_ROUTES = [
    ("POST", "/admin/recordings/{id}/share", "viewer", {"expires_in": "3600"}, (200,)),
    ("POST", "/admin/recordings/{id}/legal-hold", "operator", {"hold": "on"}, (409,)),
    ("POST", "/admin/recordings/{id}/deliveries/1/redeliver", "operator", {}, (302,)),
    ("POST", "/admin/recordings/{id}/shares/nosuchlink/revoke", "admin", {}, (302,)),
    ("GET", "/admin/tokens", "admin", {}, (200,)),
    ("POST", "/admin/tokens", "admin", {"name": "crm", "role": "viewer"}, (200,)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "lowest", "form", "answers"), MORE_ROUTES)
def test_each_role_may_do_exactly_its_row_of_this_rounds_actions(
    client, connection, add_user, archived, role, method, path, lowest, form, answers
):
    password = add_user(f"{role}1", role)
    assert log_in(client, f"{role}1", password).status_code == 302
    token = csrf_token(client, "/admin/")
    before = len(entries(connection))
    url = path.format(id=archived.id)
    response = client.open(url, method=method, data={"csrf_token": token, **form}, headers=HTML)
    if ROLES.index(role) >= ROLES.index(lowest):
        assert response.status_code in answers, response.data[:300]
    else:
        assert response.status_code == 403
        assert f"needs the {lowest} role".encode() in response.data
        assert len(entries(connection)) == before, "a refused action writes no audit entry"


@pytest.mark.parametrize("role", ROLES)
def test_pages_offer_only_what_the_role_may_use(client, add_user, archived, role):
    password = add_user("someone", role)
    log_in(client, "someone", password)
    page = client.get(f"/admin/recordings/{archived.id}", headers=HTML).get_data(as_text=True)
    assert f'someone <span class="role">({role})</span>' in page
    assert ("Retry</button>" in page) == (role != "viewer")
    assert ("/admin/audit" in page) == (role == "admin")
    assert ("/admin/users" in page) == (role == "admin")


def test_a_script_without_the_role_gets_403_too(client, add_user):
    password = add_user("vera", "viewer")
    log_in(client, "vera", password)
    response = client.get("/admin/audit", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert b"admin role" in response.data


def cookie_of(client):
    return client.get_cookie("archiver_session").value


def with_cookie(app, value):
    other = app.test_client()
    other.set_cookie("archiver_session", value)
    return other


@pytest.mark.parametrize(
    "ending",
    [
        ["users", "set-password", "olga"],
        ["users", "set-role", "olga", "viewer"],
        ["users", "remove", "olga"],
        "logout",
    ],
)
def test_a_copied_cookie_fails_once_the_session_ends(app, client, runner, add_user, ending):
    password = add_user("olga", "operator")
    log_in(client, "olga", password)
    copied = cookie_of(client)
    assert with_cookie(app, copied).get("/admin/", headers=HTML).status_code == 200
    if ending == "logout":
        client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    else:
        result = runner.invoke(args=ending, input="another long password\n")
        assert result.exit_code == 0, result.output
    refused = with_cookie(app, copied).get("/admin/", headers=HTML)
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/login")


def test_the_env_admins_cookie_fails_once_admin_password_changes(app, client):
    log_in(client)
    copied = cookie_of(client)
    assert with_cookie(app, copied).get("/admin/", headers=HTML).status_code == 200
    settings = app.extensions["recording_archiver"].settings
    app.extensions["recording_archiver"].settings = type(settings)(
        **{**settings.__dict__, "admin_password": "changed to something else"}
    )
    assert with_cookie(app, copied).get("/admin/", headers=HTML).status_code == 302


def test_a_short_password_is_refused_with_a_message(runner):
    result = runner.invoke(args=["users", "add", "pat", "--role", "viewer"], input="short\n")
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output


def test_users_list_shows_name_role_and_last_sign_in(client, runner, add_user):
    password = add_user("ann", "admin")
    add_user("bob", "viewer")
    log_in(client, "ann", password)
    lines = runner.invoke(args=["users", "list"]).output.splitlines()
    assert lines[0].startswith("ann\tadmin\t2")
    assert lines[1] == "bob\tviewer\tnever"


def test_an_admin_manages_users_from_the_console_and_each_change_is_audited(
    client, connection, add_user
):
    password = add_user("root", "admin")
    log_in(client, "root", password)
    token = csrf_token(client, "/admin/users")
    form = {"csrf_token": token, "name": "carl", "role": "viewer", "password": "a fine password!"}
    assert client.post("/admin/users/add", data=form, headers=HTML).status_code == 302
    client.post("/admin/users/carl/role", data={"csrf_token": token, "role": "operator"})
    client.post("/admin/users/carl/password", data={"csrf_token": token, "password": "x" * 12})
    client.post("/admin/users/carl/remove", data={"csrf_token": token})
    done = [(e.actor, e.action) for e in entries(connection) if e.action.startswith("user.")]
    assert done == [
        ("cli", actions.USER_ADD),
        ("user:root", actions.USER_ADD),
        ("user:root", actions.USER_SET_ROLE),
        ("user:root", actions.USER_SET_PASSWORD),
        ("user:root", actions.USER_REMOVE),
    ]


def test_a_console_form_without_its_csrf_token_changes_no_user(client, connection, add_user):
    password = add_user("root", "admin")
    log_in(client, "root", password)
    form = {"name": "mallory", "role": "admin", "password": "a fine password!"}
    assert client.post("/admin/users/add", data=form, headers=HTML).status_code == 400
    assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 1


def test_sign_ins_and_failed_sign_ins_are_audited(client, connection, add_user):
    password = add_user("dora", "viewer")
    log_in(client, "dora", "not her password")
    log_in(client, "dora", password)
    found = [(e.actor, e.action) for e in entries(connection) if e.action.startswith("login")]
    assert found == [("user:dora", actions.LOGIN_FAILED), ("user:dora", actions.LOGIN)]


def test_a_listen_writes_one_audit_entry_for_all_its_ranges(client, connection, archived):
    log_in(client)
    page = client.get(f"/admin/recordings/{archived.id}", headers=HTML).get_data(as_text=True)
    assert entries(connection, actions.RECORDING_LISTEN) == []  # a page view is not a listen
    src = page.split('<audio controls preload="none" src="', 1)[1].split('"', 1)[0]
    src = src.replace("&amp;", "&")
    for byte_range in ("bytes=0-", "bytes=1000-", "bytes=2000-3000"):
        response = client.get(src, headers={"Range": byte_range})
        assert response.status_code == 206
    listens = entries(connection, actions.RECORDING_LISTEN)
    assert [(e.actor, e.recording_sid) for e in listens] == [
        ("user:operator", archived.recording_sid)
    ]
    client.get(f"/admin/recordings/{archived.id}/media?download=1")
    assert len(entries(connection, actions.RECORDING_DOWNLOAD)) == 1


def test_retries_and_bulk_retries_are_audited(client, connection, archived):
    log_in(client)
    token = csrf_token(client, "/admin/")
    client.post(f"/admin/recordings/{archived.id}/retry", data={"csrf_token": token})
    client.post("/admin/retry-failed", data={"csrf_token": token})
    assert [e.recording_sid for e in entries(connection, actions.RECORDING_RETRY)] == [
        archived.recording_sid
    ]
    assert len(entries(connection, actions.RECORDINGS_BULK_RETRY)) == 1
