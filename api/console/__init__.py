"""The console: web pages for auditors, CCG finance staff and the Board (issue 13).

Served by the API's own Flask app under ``/console``, server-rendered, with
every asset inside this package. It signs in with an API token and then
asks the *same* questions as the API, of the same services:

* who may do what is ``api.auth.permit`` — the function the API's ``@allow``
  runs — with the token looked up by ``TokenStore.authenticate`` on every
  request, so a revoked token stops working in the console at once;
* figures come from ``QPLedger.determinations`` and the read models
  (``api.views.reports.read_models``), exactly as the JSON views get them.

The session cookie holds the token sealed with Fernet (encrypted and
authenticated), never in clear: the cookie is signed, not secret, and the
API token outlives the session. Keys are derived from one secret, the
``QP_LEDGER_CONSOLE_SECRET`` setting or, when unset, the checkpoint signing
key, which every worker of a server already shares (docs/configuration.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from api.auth import Action, permit, tokens
from ledger.adapters.tokens import Token

PREFIX = "/console"
#: An explicit secret for the console's cookies (else derived from the signing key).
SECRET_SETTING = "QP_LEDGER_CONSOLE_SECRET"
#: How long a sign-in lasts, whatever the browser does with the cookie.
SESSION_SECONDS = 8 * 3600
COOKIE_NAME = "qp_console"


class SignInRequired(Exception):
    """No session, an expired one, or a token revoked since sign-in."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def root_secret(app: Flask) -> bytes:
    """The one secret the console's keys come from (same in every worker of a server)."""
    configured = str(app.config.get(SECRET_SETTING) or os.environ.get(SECRET_SETTING, "")).strip()
    if configured:
        return configured.encode()
    from api.views.integrity import signer  # loads (or creates, and logs) the key file

    return signer().signer_key().encode()


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, for /console only, keyed from the console's secret.

    The API never opens a session (a bearer token is its only credential), so
    it never derives the key, and never sets or honours a cookie.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
            return None
        if not app.secret_key:
            app.secret_key = _derive(root_secret(app), b"qp-ledger console cookie").hex()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        # Secure whenever the page itself came over TLS (a Secure cookie sent
        # over plain HTTP would simply be dropped by the browser).
        return bool(request.is_secure)


def init_app(app: Flask) -> None:
    """Register the console on the API's app (the one edit api/app.py needs)."""
    # Each page module adds its routes to the one blueprint (pages.bp) as it is imported.
    from api.console import appeals, decisions, letter, overview, signing_in  # noqa: F401
    from api.console.pages import bp

    app.config.setdefault(SECRET_SETTING, None)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.session_interface = ConsoleSessions()
    app.register_blueprint(bp)


def _fernet() -> Fernet:
    found: Fernet | None = current_app.extensions.get("qp_console_fernet")
    if found is None:
        key = _derive(root_secret(current_app), b"qp-ledger console token seal")
        found = current_app.extensions["qp_console_fernet"] = Fernet(base64.urlsafe_b64encode(key))
    return found


def sign_in(plaintext: str) -> Token | None:
    """Start a session for a valid token (a fresh session: no fixation, new CSRF token)."""
    token = tokens().authenticate(plaintext.strip())
    if token is None:
        return None
    session.clear()
    session["token"] = _fernet().encrypt(plaintext.strip().encode()).decode()
    session["csrf"] = secrets.token_urlsafe(32)
    return token


def signed_in() -> Token | None:
    """The session's token, authenticated afresh (revoked or expired: None)."""
    sealed = session.get("token")
    if not isinstance(sealed, str):
        return None
    try:
        plaintext = _fernet().decrypt(sealed.encode(), ttl=SESSION_SECONDS).decode()
    except InvalidToken:
        return None
    return tokens().authenticate(plaintext)


def require(kind: str, **view_args: Any) -> Token:
    """The API's own role check (``api.auth.permit``) for the signed-in token."""
    token = signed_in()
    if token is None:
        raise SignInRequired
    g.qp_token = permit(token, Action(kind), view_args)
    return token


def may(token: Token, kind: str, **view_args: Any) -> bool:
    """Whether ``require`` would pass: to show only the links and forms a user may use."""
    from api.problems import Problem

    try:
        permit(token, Action(kind), view_args)
    except Problem:
        return False
    return True


def csrf_token() -> str:
    value = session.get("csrf")
    if not isinstance(value, str):
        value = session["csrf"] = secrets.token_urlsafe(32)
    return value


def csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    held = session.get("csrf")
    return isinstance(held, str) and hmac.compare_digest(
        hashlib.sha256(sent.encode()).digest(), hashlib.sha256(held.encode()).digest()
    )
