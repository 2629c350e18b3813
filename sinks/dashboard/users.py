"""Dashboard users: a file of accounts with salted scrypt password hashes and roles.

The file is JSON (or YAML, when it ends in ``.yaml``/``.yml``)::

    {"users": [{"username": "a.ortiz", "name": "Ana Ortiz", "role": "officer",
                "password": "scrypt$16384$8$1$<salt b64>$<hash b64>"}]}

``officer`` may record decisions; ``viewer`` may only look. Passwords are never stored:
``cargowatch dashboard adduser`` hashes them.

>>> h = hash_password("correct horse")
>>> verify_password("correct horse", h), verify_password("wrong", h)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Literal

import msgspec
import yaml

Role = Literal["officer", "viewer"]
ROLES: tuple[str, ...] = ("officer", "viewer")
_N, _R, _P = 1 << 14, 8, 1
_USERNAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class UserFileError(ValueError):
    """The users file cannot be read or written; the message says which file and why."""


class User(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    role: Role
    password: str
    name: str = ""

    @property
    def display_name(self) -> str:
        return self.name or self.username


class UserFile(msgspec.Struct):
    users: list[User] = msgspec.field(default_factory=list)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash in the form ``scrypt$N$r$p$salt$hash`` (base64 parts)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


# Spent on unknown usernames so a login does not reveal which names exist by its timing.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def load_users(path: str | Path) -> dict[str, User]:
    """The accounts in a users file, by username."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserFileError(
            f"users file {p} does not exist; create an account with "
            f"`cargowatch dashboard adduser NAME --role officer --users-file {p}`"
        ) from None
    except OSError as exc:
        raise UserFileError(f"users file {p}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(raw) if _is_yaml(p) else json.loads(raw or b"{}")
        parsed = msgspec.convert(data or {}, UserFile)
    except (ValueError, yaml.YAMLError, msgspec.ValidationError) as exc:
        raise UserFileError(f"users file {p} is not a valid users file: {exc}") from None
    return {u.username: u for u in parsed.users}


def add_user(
    path: str | Path, username: str, password: str, role: str = "officer", name: str = ""
) -> User:
    """Create or replace an account (the file is created when missing, written atomically,
    readable by its owner only). Returns the stored user."""
    if not username or set(username) - _USERNAME_OK:
        raise UserFileError(f"username {username!r}: use letters, digits and . _ - @ only")
    if role not in ROLES:
        raise UserFileError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < 8:
        raise UserFileError("password must be at least 8 characters")
    p = Path(path)
    users = load_users(p) if p.exists() else {}
    user = User(username=username, role=role, password=hash_password(password), name=name)  # type: ignore[arg-type]
    users[username] = user
    doc = msgspec.to_builtins(UserFile(users=sorted(users.values(), key=lambda u: u.username)))
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    text = yaml.safe_dump(doc, sort_keys=False) if _is_yaml(p) else json.dumps(doc, indent=2) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, p)
    return user


def authenticate(users: dict[str, User], username: str, password: str) -> User | None:
    """The user when the password is right, else None (same work either way)."""
    user = users.get(username)
    ok = verify_password(password, user.password if user else _DUMMY_HASH)
    return user if (ok and user is not None) else None
