"""Dashboard sessions: random tokens in an HttpOnly, SameSite=Strict cookie, an absolute
expiry (``session_ttl_s``), and a per-session CSRF token for every state-changing POST.

Sessions live in the dashboard process only: a restart logs everybody out, which is the
safe failure. Nothing else depends on them (decisions are on Kafka).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from sinks.dashboard.users import User

COOKIE = "cw_session"
LOGIN_COOKIE = "cw_login"  # double-submit token of the login form (before a session exists)
_MAX_FAILURES = 5
_LOCKOUT_S = 30.0


@dataclass(slots=True)
class Session:
    token: str
    username: str
    display_name: str
    role: str
    csrf: str
    expires: float

    @property
    def may_decide(self) -> bool:
        return self.role == "officer"

    def csrf_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.csrf, value or "")


@dataclass
class SessionStore:
    ttl_s: float
    _sessions: dict[str, Session] = field(default_factory=dict)
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def create(self, user: User) -> Session:
        """A new session for a user who just logged in."""
        self._expire()
        session = Session(
            token=secrets.token_urlsafe(32),
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            csrf=secrets.token_urlsafe(32),
            expires=time.time() + self.ttl_s,
        )
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie value, or None when unknown or expired."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if session.expires <= time.time():
            self._sessions.pop(token, None)
            return None
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def _expire(self) -> None:
        now = time.time()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]

    # -- slowing down password guessing ----------------------------------------------
    def locked(self, username: str) -> bool:
        count, since = self._failures.get(username, (0, 0.0))
        return count >= _MAX_FAILURES and time.time() - since < _LOCKOUT_S

    def failed(self, username: str) -> None:
        count, since = self._failures.get(username, (0, 0.0))
        if time.time() - since >= _LOCKOUT_S:
            count = 0
        self._failures[username] = (count + 1, time.time())

    def succeeded(self, username: str) -> None:
        self._failures.pop(username, None)
