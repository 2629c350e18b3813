"""The dashboard's aiohttp application: routes, the login and session checks, the live
feed (server-sent events) and the decision endpoint.

Open without a session: ``/login``, ``/healthz``, ``/metrics`` and ``/static/``.
Everything else needs one: API paths (``/api/...``) answer 401, pages redirect to
``/login``. Decisions need the ``officer`` role and the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cargowatch.settings import Settings
from schemas.codec import Codec, registry_from_settings
from schemas.model import Decision
from sinks import metrics
from sinks.dashboard import pages
from sinks.dashboard.board import AlertFilter, BoardState
from sinks.dashboard.feed import BoardFeed
from sinks.dashboard.sessions import COOKIE, LOGIN_COOKIE, Session, SessionStore
from sinks.dashboard.users import User, authenticate, load_users

log = logging.getLogger("cargowatch.dashboard")

STATIC_DIR = Path(__file__).parent / "static"
OPEN_PATHS = ("/login", "/healthz", "/metrics", "/favicon.ico")
FIGURES_EVERY_S = 2.0
CLIENT_QUEUE = 256
MAX_REASON = 500
_json = msgspec.json.Encoder()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class LiveHub:
    """The browsers following the live feed: one bounded queue each. A browser that does
    not keep up is disconnected (its EventSource reconnects and reloads the list)."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Queue[bytes | None]] = set()

    def publish(self, kind: str, payload: object) -> None:
        if not self.clients:
            return
        frame = b"event: " + kind.encode() + b"\ndata: " + _json.encode(payload) + b"\n\n"
        for q in list(self.clients):
            try:
                q.put_nowait(frame)
            except asyncio.QueueFull:
                self.clients.discard(q)
                with contextlib.suppress(asyncio.QueueFull):
                    q.get_nowait()
                    q.put_nowait(None)

    def add(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self.clients.add(q)
        metrics.DASHBOARD_LIVE_CLIENTS.set(len(self.clients))
        return q

    def remove(self, q: asyncio.Queue[bytes | None]) -> None:
        self.clients.discard(q)
        metrics.DASHBOARD_LIVE_CLIENTS.set(len(self.clients))

    def close_all(self) -> None:
        for q in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        self.clients.clear()


def _load_quotas(settings: Settings) -> dict[str, float]:
    """Lane quotas (expected share per lane) from the ruleset, when it declares them."""
    try:
        from streams.scoring import Ruleset

        return {
            str(k): float(v)
            for k, v in Ruleset.load(settings.rules).spec.lanes.expected_rates.items()
        }
    except Exception as exc:  # noqa: BLE001 - without quotas the board shows rates only
        log.info("lane quotas unavailable (%s); showing rates only", exc)
        return {}


def users_path(settings: Settings) -> Path:
    """The users file: setting ``users_file``, else ``<state_dir>/dashboard-users.json``."""
    return (
        Path(settings.users_file)
        if settings.users_file
        else Path(settings.state_dir) / "dashboard-users.json"
    )


class Dashboard:
    """Everything the handlers share."""

    def __init__(self, settings: Settings, codec: Codec | None = None):
        self.settings = settings
        self.codec = codec or Codec(registry_from_settings(settings.schema_registry_url))
        self.board = BoardState()
        self.hub = LiveHub()
        self.sessions = SessionStore(ttl_s=float(settings.session_ttl_s))
        self.users_file = users_path(settings)
        self.users: dict[str, User] = load_users(self.users_file)
        self._users_mtime = self.users_file.stat().st_mtime
        self.quotas = _load_quotas(settings)
        self.feed = BoardFeed(settings, self.board, self.codec, self.hub.publish)
        self._tasks: list[asyncio.Task] = []

    def reload_users(self) -> None:
        """Pick up accounts added with ``cargowatch dashboard adduser`` while running."""
        with contextlib.suppress(Exception):
            mtime = self.users_file.stat().st_mtime
            if mtime != self._users_mtime:
                self.users = load_users(self.users_file)
                self._users_mtime = mtime

    def figures(self):
        f = self.board.figures(self.quotas)
        metrics.DASHBOARD_OPEN_ALERTS.set(f.open_alerts)
        return f

    async def start(self) -> None:
        await self.feed.start()
        self._tasks = [
            asyncio.create_task(self.feed.run()),
            asyncio.create_task(self._figures_loop()),
        ]

    async def stop(self) -> None:
        self.feed.request_stop()
        self.hub.close_all()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.feed.stop()

    async def _figures_loop(self) -> None:
        while True:
            await asyncio.sleep(FIGURES_EVERY_S)
            try:
                if self.hub.clients:
                    self.hub.publish("figures", self.figures())
            except Exception as exc:  # noqa: BLE001 - a figure glitch must not stop the feed
                log.warning("figures: %s", exc)


DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard", Dashboard)


SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)


def _session(request: web.Request) -> Session:
    return request[SESSION]


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


@web.middleware
async def security(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Session check for every non-open path, a same-origin check for POSTs, and the
    security headers on every answer."""
    dash = request.app[DASHBOARD]
    path = request.path
    try:
        if request.method == "POST" and not _same_origin(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        if not (path in OPEN_PATHS or path.startswith("/static/")):
            session = dash.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                if _is_api(path):
                    raise web.HTTPUnauthorized(
                        text='{"error": "login required"}', content_type="application/json"
                    )
                target = path + (f"?{request.query_string}" if request.query_string else "")
                raise web.HTTPFound("/login?next=" + quote(target, safe=""))
            request[SESSION] = session
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    _headers(response, path)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _headers(response: web.StreamResponse, path: str) -> None:
    if response.prepared:
        return
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if not path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def _safe_next(value: str | None) -> str:
    # only local paths: never redirect to another site after login
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _set_cookie(
    response: web.StreamResponse, name: str, value: str, max_age: int, request: web.Request
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=request.secure,
    )


# -- open routes ------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    html = pages.login_page("", token, _safe_next(request.query.get("next")))
    response = web.Response(text=html, content_type="text/html")
    _set_cookie(response, LOGIN_COOKIE, token, 600, request)
    return response


async def login_submit(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await request.post()
    username = str(form.get("username", ""))[:100]
    password = str(form.get("password", ""))[:1000]
    next_path = _safe_next(str(form.get("next", "/")))
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    form_token = str(form.get("login_token", ""))

    def again(message: str, status: int) -> web.Response:
        token = secrets.token_urlsafe(24)
        response = web.Response(
            text=pages.login_page(message, token, next_path),
            content_type="text/html",
            status=status,
        )
        _set_cookie(response, LOGIN_COOKIE, token, 600, request)
        return response

    if not cookie_token or not secrets.compare_digest(cookie_token, form_token):
        return again("Your sign-in form expired. Please try again.", 400)
    if dash.sessions.locked(username):
        metrics.DASHBOARD_LOGINS.labels("locked").inc()
        return again("Too many failed attempts. Wait half a minute and try again.", 429)
    dash.reload_users()
    user = await asyncio.to_thread(authenticate, dash.users, username, password)
    if user is None:
        dash.sessions.failed(username)
        metrics.DASHBOARD_LOGINS.labels("failed").inc()
        log.info("dashboard login failed for a username")
        return again("Wrong username or password.", 401)
    dash.sessions.succeeded(username)
    session = dash.sessions.create(user)
    metrics.DASHBOARD_LOGINS.labels("ok").inc()
    log.info("dashboard login: %s (%s)", user.username, user.role)
    redirect = web.HTTPSeeOther(next_path)
    _set_cookie(redirect, COOKIE, session.token, int(dash.settings.session_ttl_s), request)
    redirect.del_cookie(LOGIN_COOKIE, path="/")
    raise redirect


async def healthz(request: web.Request) -> web.Response:
    board = request.app[DASHBOARD].board
    return web.json_response(
        {"status": "ok", "caught_up": board.caught_up, "time": datetime.now(UTC).isoformat()}
    )


async def metrics_page(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


# -- pages ------------------------------------------------------------------------


async def logout(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    session = _session(request)
    form = await request.post()
    if not session.csrf_ok(str(form.get("csrf_token", ""))):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    dash.sessions.end(session.token)
    redirect = web.HTTPSeeOther("/login")
    redirect.del_cookie(COOKIE, path="/")
    raise redirect


async def board_page(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    flt = AlertFilter.from_query(dict(request.query))
    html = pages.board_page(
        _session(request), dash.figures(), dash.board.query(flt), flt, dash.board.rule_ids()
    )
    return web.Response(text=html, content_type="text/html")


def _alert_or_404(request: web.Request):
    dash = request.app[DASHBOARD]
    alert = dash.board.alerts.get(request.match_info["alert_id"])
    if alert is None:
        raise web.HTTPNotFound(text="no such alert on the board")
    return alert


async def alert_page(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    alert = _alert_or_404(request)
    notice = (
        "Decision recorded and published to alerts.decisions."
        if request.query.get("recorded")
        else ""
    )
    html = pages.alert_page(
        _session(request), alert, dash.board.decisions.get(alert.alert_id, []), notice=notice
    )
    return web.Response(text=html, content_type="text/html")


async def decide(request: web.Request) -> web.Response:
    """Record an officer decision: officer role, CSRF token, a known outcome and a reason."""
    dash = request.app[DASHBOARD]
    session = _session(request)
    alert = _alert_or_404(request)
    form = await request.post()
    wants_json = "application/json" in request.headers.get("Accept", "")
    if not session.csrf_ok(str(form.get("csrf_token", "")) or request.headers.get("X-CSRF-Token")):
        raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
    if not session.may_decide:
        raise web.HTTPForbidden(text="only officers may record decisions")
    outcome = str(form.get("outcome", ""))
    reason = " ".join(str(form.get("reason", "")).split())[:MAX_REASON]
    error = ""
    if outcome not in pages.OUTCOMES:
        error = "Choose an outcome."
    elif not reason:
        error = "Give a reason: it goes into the audit trail."
    if error:
        if wants_json:
            return web.json_response({"error": error}, status=400)
        html = pages.alert_page(
            session, alert, dash.board.decisions.get(alert.alert_id, []), error=error
        )
        return web.Response(text=html, content_type="text/html", status=400)
    trader_ids = [t for t in (alert.summary.consignee_id,) if t]
    decision = Decision(
        alert_id=alert.alert_id,
        manifest_id=alert.manifest_id,
        version=alert.version,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        officer=session.username,
        # milliseconds, as Avro stores it, so the copy read back from Kafka is the same decision
        decided_at=_now_ms(),
        rule_ids=sorted({h.rule_id for h in alert.hits}),
        trader_ids=trader_ids,
    )
    try:
        await asyncio.wait_for(dash.feed.publish_decision(decision), timeout=30)
    except Exception as exc:  # noqa: BLE001 - the officer must see that it did not go through
        log.error("decision on %s not published: %s", alert.alert_id, exc)
        message = "The decision could not be published to Kafka; nothing was recorded. Try again."
        if wants_json:
            return web.json_response({"error": message}, status=503)
        html = pages.alert_page(
            session, alert, dash.board.decisions.get(alert.alert_id, []), error=message
        )
        return web.Response(text=html, content_type="text/html", status=503)
    metrics.DASHBOARD_DECISIONS.labels(outcome).inc()
    log.info("decision %s on %s by %s", outcome, alert.alert_id, session.username)
    if wants_json:
        return web.json_response(
            {"status": "recorded", "alert": msgspec.to_builtins(dash.board.row(alert))}
        )
    raise web.HTTPSeeOther(pages.alert_href(alert.alert_id) + "?recorded=1")


def _now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# -- API --------------------------------------------------------------------------


async def api_alerts(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    try:
        limit = max(1, min(500, int(request.query.get("limit", "200"))))
    except ValueError:
        limit = 200
    rows = dash.board.query(AlertFilter.from_query(dict(request.query)), limit=limit)
    return web.Response(
        body=_json.encode({"alerts": rows, "caught_up": dash.board.caught_up}),
        content_type="application/json",
    )


async def api_alert(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    alert = _alert_or_404(request)
    body = {"alert": alert, "decisions": dash.board.decisions.get(alert.alert_id, [])}
    return web.Response(body=_json.encode(body), content_type="application/json")


async def api_figures(request: web.Request) -> web.Response:
    return web.Response(
        body=_json.encode(request.app[DASHBOARD].figures()), content_type="application/json"
    )


async def api_me(request: web.Request) -> web.Response:
    s = _session(request)
    return web.json_response(
        {"username": s.username, "name": s.display_name, "role": s.role, "expires": s.expires}
    )


async def api_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``alert``, ``decision`` and ``figures``, until the session ends."""
    dash = request.app[DASHBOARD]
    session = _session(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    _headers(response, request.path)
    await response.prepare(request)
    q = dash.hub.add()
    try:
        await response.write(
            b"retry: 2000\nevent: hello\ndata: " + _json.encode(dash.figures()) + b"\n\n"
        )
        while True:
            remaining = session.expires - time.time()
            if remaining <= 0 or dash.sessions.get(session.token) is None:
                break  # expired or signed out
            try:
                frame = await asyncio.wait_for(q.get(), timeout=min(15.0, remaining))
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if frame is None:
                break
            await response.write(frame)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        dash.hub.remove(q)
    return response


async def _favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def create_dashboard_app(dash: Dashboard) -> web.Application:
    """The aiohttp application for a Dashboard (started by :func:`start_dashboard`)."""
    app = web.Application(middlewares=[security], client_max_size=64 * 1024)
    app[DASHBOARD] = dash
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics_page)
    r.add_get("/favicon.ico", _favicon)
    r.add_get("/", board_page)
    r.add_get("/alerts/{alert_id}", alert_page)
    r.add_post("/alerts/{alert_id}/decision", decide)
    r.add_get("/api/alerts", api_alerts)
    r.add_get("/api/alerts/{alert_id}", api_alert)
    r.add_get("/api/figures", api_figures)
    r.add_get("/api/me", api_me)
    r.add_get("/api/stream", api_stream)
    r.add_static("/static/", STATIC_DIR, show_index=False, append_version=False)

    async def on_shutdown(app: web.Application) -> None:
        app[DASHBOARD].hub.close_all()

    async def on_cleanup(app: web.Application) -> None:
        await app[DASHBOARD].stop()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


async def start_dashboard(settings: Settings, port: int | None = None) -> web.AppRunner:
    """Rebuild the board from the topics and serve it on ``settings.http_host`` (127.0.0.1
    unless configured) and ``port`` (default: setting ``dashboard_port``; 0 picks a free
    one, see ``runner.addresses``). ``await runner.cleanup()`` stops it.

    Raises UserFileError when the users file is missing or invalid.
    """
    dash = Dashboard(settings)
    await dash.start()
    app = create_dashboard_app(dash)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.http_host, settings.dashboard_port if port is None else port
    )
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("dashboard on %s", ", ".join(f"http://{a[0]}:{a[1]}/" for a in runner.addresses))
    return runner


def dashboard_url(runner: web.AppRunner) -> str:
    """The URL of a started dashboard."""
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}/"


__all__ = ["Dashboard", "create_dashboard_app", "dashboard_url", "start_dashboard", "users_path"]
