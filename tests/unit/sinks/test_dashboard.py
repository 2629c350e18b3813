"""The dashboard without a broker: board state, accounts, sessions, and the HTTP rules
(what is open, what needs a session, who may decide)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sink_samples import make_alert_record

from cargowatch.settings import Settings
from schemas.model import Decision
from sinks.dashboard.board import AlertFilter, BoardState
from sinks.dashboard.sessions import SessionStore
from sinks.dashboard.users import UserFileError, add_user, authenticate, load_users
from sinks.dashboard.web import Dashboard, create_dashboard_app


def _decision(
    alert_id: str, outcome: str = "CONFIRMED", rules=("DUAL_USE_GOODS",), minutes: int = 0
) -> Decision:
    manifest_id, version = alert_id.split(":")
    return Decision(
        alert_id=alert_id,
        manifest_id=manifest_id,
        version=int(version),
        outcome=outcome,  # type: ignore[arg-type]
        reason="seen",
        officer="ana",
        decided_at=datetime(2026, 11, 28, 9, minutes, tzinfo=UTC),
        rule_ids=list(rules),
        trader_ids=["DE123456789"],
    )


# -- board -----------------------------------------------------------------------------


def test_board_is_idempotent_and_filters() -> None:
    board = BoardState()
    red = make_alert_record("M1", 1, lane="RED", mode="AIR")
    yellow = make_alert_record("M2", 1, lane="YELLOW", referral="RFI")
    assert board.add_alert(red) and board.add_alert(yellow)
    assert not board.add_alert(red)  # the same alert read twice
    assert [r.manifest_id for r in board.query(AlertFilter())] == ["M2", "M1"]  # newest first
    assert [r.manifest_id for r in board.query(AlertFilter(lane="RED"))] == ["M1"]
    assert [r.manifest_id for r in board.query(AlertFilter(referral="RFI"))] == ["M2"]
    assert [r.manifest_id for r in board.query(AlertFilter(mode="AIR"))] == ["M1"]
    assert len(board.query(AlertFilter(rule="DUAL_USE_GOODS"))) == 2
    assert board.query(AlertFilter(rule="LATE_FILING")) == []
    assert (
        len(board.query(AlertFilter(trader="de1234"))) == 0
    )  # from_query upper-cases; raw is exact
    assert len(board.query(AlertFilter.from_query({"trader": "de1234"}))) == 2
    assert len(board.query(AlertFilter.from_query({"port": "nlrtm"}))) == 2
    assert board.query(AlertFilter.from_query({"port": "DEHAM"})) == []
    assert board.add_decision(_decision("M1:1"))
    assert not board.add_decision(_decision("M1:1"))
    assert [r.manifest_id for r in board.query(AlertFilter(status="OPEN"))] == ["M2"]
    decided = board.query(AlertFilter(status="DECIDED"))
    assert [(r.manifest_id, r.status, r.decided_by) for r in decided] == [
        ("M1", "CONFIRMED", "ana")
    ]


def test_board_query_is_bounded() -> None:
    board = BoardState(capacity=50)
    for i in range(80):
        board.add_alert(make_alert_record(f"M{i}", 1))
    assert len(board.alerts) == 50 and "M0:1" not in board.alerts
    assert len(board.query(AlertFilter(), limit=10)) == 10


def test_figures_rates_quotas_and_hit_rates() -> None:
    board = BoardState()
    now = time.time()
    for lane, n in (("GREEN", 90), ("YELLOW", 6), ("RED", 4)):
        board.count(f"screened:{lane}", now - 10, n)
    board.count("screened:GREEN", now - 7200, 1000)  # outside the hour
    board.count("dlq", now - 30, 10)
    for i in range(4):
        board.add_alert(make_alert_record(f"M{i}", 1))
    board.add_decision(_decision("M0:1", "CONFIRMED"))
    board.add_decision(_decision("M1:1", "FALSE_POSITIVE"))
    board.add_decision(_decision("M2:1", "FALSE_POSITIVE"))
    board.add_decision(_decision("M2:1", "CONFIRMED", minutes=5))  # a later decision replaces it
    f = board.figures({"RED": 0.02, "YELLOW": 0.03}, now=now)
    lanes = {lane.lane: lane for lane in f.lanes}
    assert f.screened_last_hour == 100
    assert lanes["RED"].rate == pytest.approx(0.04) and lanes["RED"].quota == 0.02
    assert lanes["GREEN"].quota is None
    assert f.throughput_per_s == pytest.approx(100 / 60)
    assert f.dlq_last_hour == 10 and f.dlq_per_min == pytest.approx(2.0)
    assert f.open_alerts == 1 and f.decisions == 3
    rule = next(r for r in f.rules if r.rule_id == "DUAL_USE_GOODS")
    assert (rule.decided, rule.confirmed, rule.false_positive) == (3, 2, 1)
    assert rule.hit_rate == pytest.approx(2 / 3)


# -- accounts and sessions ------------------------------------------------------------


def test_users_file_hashes_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    add_user(path, "ana", "correct horse", "officer", "Ana Ortiz")
    add_user(path, "vic", "battery staple", "viewer")
    text = path.read_text()
    assert "correct horse" not in text and "scrypt$" in text
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    users = load_users(path)
    assert authenticate(users, "ana", "correct horse").role == "officer"  # type: ignore[union-attr]
    assert authenticate(users, "ana", "wrong") is None
    assert authenticate(users, "nobody", "correct horse") is None
    with pytest.raises(UserFileError, match="role"):
        add_user(path, "x", "long enough", "admin")
    with pytest.raises(UserFileError, match="at least 8"):
        add_user(path, "x", "short", "viewer")
    with pytest.raises(UserFileError, match="adduser"):
        load_users(tmp_path / "missing.json")


def test_sessions_expire_and_check_csrf(tmp_path: Path) -> None:
    add_user(tmp_path / "u.json", "ana", "correct horse")
    user = load_users(tmp_path / "u.json")["ana"]
    store = SessionStore(ttl_s=0.2)
    s = store.create(user)
    assert store.get(s.token) is s and s.may_decide
    assert s.csrf_ok(s.csrf) and not s.csrf_ok("forged") and not s.csrf_ok(None)
    time.sleep(0.25)
    assert store.get(s.token) is None
    for _ in range(5):
        store.failed("ana")
    assert store.locked("ana")


# -- HTTP -------------------------------------------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    users = tmp_path / "users.json"
    add_user(users, "ana", "officer-pass", "officer", "Ana Ortiz")
    add_user(users, "vic", "viewer-pass", "viewer")
    settings = Settings.load(env={}).replace(users_file=str(users), state_dir=str(tmp_path))
    dash = Dashboard(settings)
    dash.board.add_alert(make_alert_record("M1", 1, lane="RED"))
    dash.board.caught_up = True
    async with TestClient(TestServer(create_dashboard_app(dash))) as c:
        yield c


async def _login(client: TestClient, username: str, password: str) -> str:
    page = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    resp = await client.post(
        "/login",
        data={"username": username, "password": password, "login_token": token, "next": "/"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    cookie = resp.cookies["cw_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    board = await client.get("/")
    return re.search(r'name="csrf-token" content="([^"]+)"', await board.text()).group(1)  # type: ignore[union-attr]


async def test_open_and_protected_routes(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    metrics = await client.get("/metrics")
    assert metrics.status == 200 and "cargowatch_dashboard_logins_total" in await metrics.text()
    assert (await client.get("/login")).status == 200
    assert (await client.get("/static/board.js")).status == 200
    for path in ("/api/alerts", "/api/alerts/M1:1", "/api/figures", "/api/stream", "/api/me"):
        assert (await client.get(path)).status == 401, path
    for path in ("/", "/alerts/M1:1"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"].startswith("/login?next="), path
    resp = await client.post(
        "/alerts/M1:1/decision", data={"outcome": "CONFIRMED"}, allow_redirects=False
    )
    assert resp.status in (302, 401)
    assert (
        "frame-ancestors 'none'" in (await client.get("/login")).headers["Content-Security-Policy"]
    )


async def test_login_rejects_wrong_password_and_forged_form(client: TestClient) -> None:
    page = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    resp = await client.post(
        "/login", data={"username": "ana", "password": "nope", "login_token": token}
    )
    assert resp.status == 401 and "Wrong username or password" in await resp.text()
    resp = await client.post(
        "/login", data={"username": "ana", "password": "officer-pass", "login_token": "forged"}
    )
    assert resp.status == 400
    assert "cw_session" not in resp.cookies


async def test_viewer_sees_but_may_not_decide(client: TestClient) -> None:
    csrf = await _login(client, "vic", "viewer-pass")
    api = await client.get("/api/alerts")
    assert api.status == 200 and (await api.json())["alerts"][0]["alert_id"] == "M1:1"
    page = await client.get("/alerts/M1:1")
    assert "viewer" in await page.text() and 'id="decision-form"' not in await page.text()
    resp = await client.post(
        "/alerts/M1:1/decision", data={"outcome": "CONFIRMED", "reason": "x", "csrf_token": csrf}
    )
    assert resp.status == 403


async def test_decision_needs_csrf_outcome_and_reason(client: TestClient) -> None:
    csrf = await _login(client, "ana", "officer-pass")
    resp = await client.post(
        "/alerts/M1:1/decision", data={"outcome": "CONFIRMED", "reason": "found"}
    )
    assert resp.status == 403  # no CSRF token
    resp = await client.post(
        "/alerts/M1:1/decision",
        data={"outcome": "CONFIRMED", "reason": "found", "csrf_token": csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert resp.status == 403  # cross-origin
    resp = await client.post(
        "/alerts/M1:1/decision", data={"outcome": "MAYBE", "reason": "x", "csrf_token": csrf}
    )
    assert resp.status == 400 and "Choose an outcome" in await resp.text()
    resp = await client.post(
        "/alerts/M1:1/decision", data={"outcome": "CONFIRMED", "reason": "  ", "csrf_token": csrf}
    )
    assert resp.status == 400 and "Give a reason" in await resp.text()
    assert (await client.get("/alerts/nope:1")).status == 404


async def test_pages_escape_what_they_show(client: TestClient) -> None:
    await _login(client, "ana", "officer-pass")
    from sinks.dashboard.web import DASHBOARD

    board = client.server.app[DASHBOARD].board
    alert = make_alert_record("M<script>", 1)
    board.add_alert(alert)
    text = await (await client.get("/")).text()
    assert "M<script>" not in text and "M&lt;script&gt;" in text


def test_filter_from_query_bounds_input() -> None:
    flt = AlertFilter.from_query({"lane": "red", "trader": "x" * 1000})
    assert flt.lane == "RED" and len(flt.trader) == 40


def test_alert_row_keeps_the_officer_view() -> None:
    board = BoardState()
    alert = make_alert_record("M9", 2, lane="YELLOW", referral="DNL")
    board.add_alert(alert)
    row = board.row(alert)
    assert row.rules == ["DUAL_USE_GOODS", "WATCHLIST_PARTY"]
    assert row.referral == "DNL" and row.status == "OPEN"
    assert row.raised_at.startswith(str(alert.raised_at.year))
    assert alert.raised_at - datetime.now(UTC) < timedelta(seconds=5)


def test_adduser_command_writes_a_hashed_account(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cargowatch.cli import _register, app

    _register()
    path = tmp_path / "users.json"
    result = CliRunner().invoke(
        app,
        [
            "dashboard",
            "adduser",
            "b.silva",
            "--role",
            "viewer",
            "--name",
            "Bea Silva",
            "--users-file",
            str(path),
            "--password-stdin",
        ],
        input="long enough pw\n",
    )
    assert result.exit_code == 0, result.output
    user = load_users(path)["b.silva"]
    assert user.role == "viewer" and user.display_name == "Bea Silva"
    assert authenticate(load_users(path), "b.silva", "long enough pw") is not None
    bad = CliRunner().invoke(
        app,
        [
            "dashboard",
            "adduser",
            "x",
            "--role",
            "root",
            "--users-file",
            str(path),
            "--password-stdin",
        ],
        input="long enough pw\n",
    )
    assert bad.exit_code == 2 and "role must be one of" in bad.output
