"""Schemathesis hooks for the conformance run (scripts/conformance).

Gives every operation credentials that let it do real work, and keeps the run from removing the
credentials it runs on:
- the admin API gets a fresh `client_credentials` token with scope `admin` (refetched on a 401:
  the run may revoke the key that signed the last one);
- `/userinfo` and `/me` get a user's password-grant token;
- `/token`, `/introspect`, `/revoke` and `/logout` get the credentials of a confidential client
  allowed every grant, in the form or in HTTP Basic;
- the login and consent forms of `/authorize` and the logout confirmation form get a real CSRF
  cookie and the token signed for it (from the login page), and every other time a real authorization (or logout) request and the
  run's user;
- `/verify-email` and `/password/reset` get, every other time, the token of a link really
  mailed (to a fresh stand-in user, read from the SMTP sink's Maildir), so verification and
  reset are reached, not only refused;
- a new user's `password_hash` that fits the schema's pattern is swapped for a real hash
  (bcrypt made by Python's `bcrypt`, argon2id by `argon2-cffi`, from tests/fixtures/import):
  a pattern cannot tell a hash from random characters of the same shape;
- path parameters that name the run's own clients or user are swapped for a fresh stand-in
  (so the fuzzer cannot delete, disable or re-key them, and still acts on a real one), and a key id that names no key is, every
  other time, swapped for the published next key's id (so revocation is reached, not only 404).

Environment: SIGIL_URL, SIGIL_ADMIN_CLIENT_ID, SIGIL_ADMIN_CLIENT_SECRET, SMTP_MAILDIR.
"""

import email
import itertools
import json
import os
import pathlib
import re
import secrets
import time
import uuid

import requests
import schemathesis

BASE = os.environ["SIGIL_URL"].rstrip("/")
ADMIN = (os.environ["SIGIL_ADMIN_CLIENT_ID"], os.environ["SIGIL_ADMIN_CLIENT_SECRET"])
TIMEOUT = 30
ROOT = pathlib.Path(__file__).resolve().parents[2]
_DOCUMENT = json.loads((ROOT / "openapi/openapi.json").read_text())
HASH_PATTERN = re.compile(_DOCUMENT["components"]["schemas"]["PasswordHash"]["pattern"])
_IMPORTED = [json.loads(line) for line in (ROOT / "tests/fixtures/import/users.jsonl").read_text().splitlines()]
REAL_HASHES = {
    "bcrypt": next(u["password_hash"] for u in _IMPORTED if u["email"].startswith("python-bcrypt-2b@")),
    "argon2": next(u["password_hash"] for u in _IMPORTED if u["email"].startswith("argon2-cffi@")),
}


def _token(form, auth):
    response = requests.post(f"{BASE}/token", data=form, auth=auth, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["access_token"]


def _admin_headers():
    token = _token({"grant_type": "client_credentials", "scope": "admin"}, ADMIN)
    return {"Authorization": f"Bearer {token}"}


def _create(path, body):
    response = requests.post(f"{BASE}{path}", json=body, headers=_admin_headers(), timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


_client = _create(
    "/admin/clients",
    {
        "name": "conformance run",
        "grant_types": ["client_credentials", "password", "refresh_token"],
        "scope": "openid",
        "introspection": True,
    },
)
CLIENT = (_client["client_id"], _client["client_secret"])
USERNAME = f"conformance-{uuid.uuid4().hex[:8]}@example.com"
PASSWORD = secrets.token_urlsafe(18)
_user = _create("/admin/users", {"username": USERNAME, "password": PASSWORD})
PROTECTED_IDS = {ADMIN[0], CLIENT[0], _user["id"]}


@schemathesis.auth(refresh_interval=60).apply_to(path_regex="^/admin/")
class AdminToken:
    def get(self, case, ctx):
        return _admin_headers()["Authorization"]

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": data}


@schemathesis.auth(refresh_interval=60).apply_to(path=["/userinfo", "/me"])
class UserToken:
    def get(self, case, ctx):
        form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "scope": "openid"}
        return "Bearer " + _token(form, CLIENT)

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": data}


@schemathesis.auth(refresh_interval=None).apply_to(path=["/token", "/introspect", "/revoke", "/logout"])
class ClientCredentials:
    """client_secret_post when the generated form carries client fields (real values replace
    them: one method per request, RFC 6749 §2.3), client_secret_basic otherwise."""

    def get(self, case, ctx):
        return CLIENT

    def set(self, case, data, ctx):
        body = case.body if isinstance(case.body, dict) else None
        if body is not None and ("client_id" in body or "client_secret" in body):
            body["client_id"], body["client_secret"] = data
            if case.headers:
                case.headers.pop("Authorization", None)
        else:
            schemathesis.auths.apply_basic_auth(case, *data)


_turn = itertools.count()


def _every_other_time():
    return next(_turn) % 2 == 0


def _next_kid():
    response = requests.get(f"{BASE}/admin/keys", headers=_admin_headers(), timeout=TIMEOUT)
    response.raise_for_status()
    return next((key["kid"] for key in response.json() if key["state"] == "next"), None)


def _session():
    """A fresh login of the run's user: its access and refresh token."""
    form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "scope": "openid"}
    response = requests.post(f"{BASE}/token", data=form, auth=CLIENT, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def _live_values(path, body):
    """Every other time, live values where the generated form names a session or a login, so
    these operations do real work (log out, rotate, revoke) and not only refuse garbage."""
    grant = body.get("grant_type")
    if path == "/token" and grant == "password":
        body["username"], body["password"] = USERNAME, PASSWORD
    elif path == "/token" and grant == "refresh_token" or path == "/logout":
        body["refresh_token"] = _session()["refresh_token"]
    elif path in ("/revoke", "/introspect"):
        session = _session()
        body["token"] = session["refresh_token" if _every_other_time() else "access_token"]


def _stand_in(path):
    """A fresh client or user to act on in place of one the run depends on."""
    if path.startswith("/admin/clients/"):
        body = {"name": "stand-in", "grant_types": ["client_credentials"]}
        return _create("/admin/clients", body)["client_id"]
    body = {"username": f"stand-in-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(12)}
    return _create("/admin/users", body)["id"]


MAILDIR = os.environ["SMTP_MAILDIR"]
LINKS = {"/verify-email": ("/verify-email/resend", "verify-email"), "/password/reset": ("/password/forgot", "password/reset")}


def _mailed_token(path):
    """The token of a link mailed for `path` to a fresh stand-in user (never the run's own:
    the fuzzer may use it to change a password)."""
    ask, link = LINKS[path]
    address = f"link-{uuid.uuid4().hex[:12]}@example.com"
    _create("/admin/users", {"username": address, "password": secrets.token_urlsafe(12)})
    requests.post(f"{BASE}{ask}", json={"email": address}, timeout=TIMEOUT).raise_for_status()
    pattern = re.compile(re.escape(link) + r"\?token=([A-Za-z0-9_-]+)")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for name in os.listdir(os.path.join(MAILDIR, "new")) if os.path.isdir(os.path.join(MAILDIR, "new")) else []:
            with open(os.path.join(MAILDIR, "new", name), encoding="utf-8") as file:
                message = email.message_from_file(file)
            if message["To"] != address:
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    found = pattern.search(part.get_payload(decode=True).decode())
                    if found:
                        return found.group(1)
        time.sleep(0.05)
    raise RuntimeError(f"no mail for {address} within 15 s")


_flow_client = _create(
    "/admin/clients",
    {
        "name": "conformance browser login",
        "public": True,
        "first_party": True,
        "grant_types": ["authorization_code"],
        "scope": "openid",
        "redirect_uris": ["https://app.example.com/cb"],
        "post_logout_redirect_uris": ["https://app.example.com/signed-out"],
    },
)
LOGOUT_REQUEST = (
    f"client_id={_flow_client['client_id']}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fsigned-out&state=s"
)
FLOW_REQUEST = (
    f"response_type=code&client_id={_flow_client['client_id']}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"
    "&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
)



def _csrf_pair():
    """A real pre-session cookie and the CSRF token signed for it, as a browser gets them from
    the login page (the token is sigil's signature of the cookie: it cannot be made up)."""
    page = requests.get(f"{BASE}/authorize?{FLOW_REQUEST}", timeout=TIMEOUT)
    cookie = page.cookies["sigil_csrf"]
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return cookie, token


CSRF_COOKIE, CSRF = _csrf_pair()


def _browser_form(case, body):
    """The login, consent and logout forms: the CSRF cookie and its copy, always (else every
    post is a 403); every other time a real authorization (or logout) request and the run's
    user."""
    case.headers = {**(case.headers or {}), "Cookie": f"sigil_csrf={CSRF_COOKIE}"}
    body["csrf"] = CSRF
    if _every_other_time():
        body["request"] = LOGOUT_REQUEST if case.operation.path == "/end-session" else FLOW_REQUEST
        if "username" in body:
            body["username"], body["password"] = USERNAME, PASSWORD


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    body = case.body if isinstance(case.body, dict) else None
    if body is not None and path in ("/token", "/logout", "/revoke", "/introspect"):
        if _every_other_time():
            _live_values(path, body)
    if body is not None and path in ("/authorize", "/authorize/consent", "/end-session") and case.method == "POST":
        _browser_form(case, body)
    if path == "/authorize" and case.method == "GET" and _every_other_time():
        # A registered client and redirect URI, so the request gets past the page of refusals.
        case.query = {**(case.query or {}), "client_id": _flow_client["client_id"],
                      "redirect_uri": "https://app.example.com/cb"}
    if path in LINKS and _every_other_time():
        if body is not None and "token" in body:
            body["token"] = _mailed_token(path)
        elif case.query and "token" in case.query:
            case.query["token"] = _mailed_token(path)
    if path == "/admin/users" and case.method == "POST" and body is not None:
        hash = body.get("password_hash")
        if isinstance(hash, str) and HASH_PATTERN.search(hash):
            body["password_hash"] = REAL_HASHES["bcrypt" if hash.startswith("$2") else "argon2"]
    parameters = case.path_parameters
    if not parameters:
        return
    if parameters.get("id") in PROTECTED_IDS:
        parameters["id"] = _stand_in(path)
    if "kid" in parameters and _every_other_time():
        kid = _next_kid()
        if kid is not None:
            parameters["kid"] = kid
