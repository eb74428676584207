#!/usr/bin/env python3
"""The lab's CRM backend: a small, realistic login API, standard library only.

It runs inside ``ops-lab-app:1`` (Debian python3, no pip), bind-mounted read-only at
``/app/backend.py``. It behaves the way the incidents describe real backends behaving, so
ops-console has something true to watch:

* refuses to start without ``JWT_SECRET`` (``RuntimeError: JWT_SECRET not configured``, exit 1);
* ``GET /health`` -> ``{"status": "ok", "db": "connected", "schema_version": N}`` (503 when the
  database cannot be opened);
* ``POST /api/v1/auth/login`` ``{"email", "password"}`` -> ``{"access_token": <HS256 JWT>}`` or
  401, logging ``[AUTH] Login failed: invalid password for <email>`` /
  ``[AUTH] Login failed: user not found: <email>`` / ``[AUTH] Login succeeded for <email>``;
* ``GET /api/v1/me`` with a Bearer token: 401 with ``[AUTH] JWT expired`` or
  ``[AUTH] Invalid token signature``; ``GET /api/v1/admin/users`` is 403 for non-admins;
* ``POST /debug/flood?n=N&rate=R&tag=T&auth=1&wait=0``: the server itself prints N numbered
  lines ``flood line 000001/00000N tag=T ...`` on its stdout (so they reach ``docker logs``),
  at R lines/s (0 = as fast as it can); ``wait=1`` answers only when all are written;
* with ``AUTH_SERVICE_URL`` set, logins are delegated to that auth service
  (``POST <url>/verify``; the backend serves one itself at ``/internal/auth``): when it cannot
  be reached the backend logs ``[AUTH] Auth service connectivity test failed: ...
  Connection refused`` and answers 500, and ``/health`` is 503 ``{"auth": "unreachable"}``;
* ``python3 /app/backend.py migrate`` applies the next schema migration with progress
  output; it fails (stderr message, exit 2) when ``MIGRATION_FAIL=1`` is set or the flag
  file ``/data/MIGRATION_FAIL`` exists (the lab's ``migration-fail`` scenario).

Every log line goes to stdout, flushed, with a UTC timestamp and a level.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

VERSION = "1.4.2"
USERS = (
    ("admin@example.com", os.environ.get("ADMIN_PASSWORD", "lab-admin-pass"), "admin"),
    ("viewer@example.com", "lab-viewer-pass", "viewer"),
)
FAIL_FLAG = "MIGRATION_FAIL"
_print_lock = threading.Lock()


def log(level: str, message: str, stream=None) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    with _print_lock:
        print(f"{stamp} {level:<7} {message}", file=stream or sys.stdout, flush=True)


# --------------------------------------------------------------------------- settings


class Settings:
    """Read once at startup, as a real app would: a changed .env needs a recreate."""

    def __init__(self, env: dict[str, str]) -> None:
        secret = env.get("JWT_SECRET", "")
        if not secret:
            raise RuntimeError("JWT_SECRET not configured")
        self.jwt_secret = secret.encode()
        self.jwt_ttl = int(env.get("JWT_TTL", "900"))
        self.database_url = env.get("DATABASE_URL", "")
        self.service_secret = env.get("SERVICE_SECRET", "")
        self.port = int(env.get("PORT", "8000"))
        self.auth_service_url = env.get("AUTH_SERVICE_URL", "").rstrip("/")

    @property
    def db_path(self) -> str | None:
        url = self.database_url
        if url.startswith("sqlite:///"):
            return url[len("sqlite:///"):] or None
        return None


# --------------------------------------------------------------------------- database


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def init_db(path: str) -> int:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT "
                     "UNIQUE NOT NULL, salt TEXT NOT NULL, password_hash TEXT NOT NULL, "
                     "role TEXT NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')")
        for email, password, role in USERS:
            salt = os.urandom(16).hex()
            conn.execute("INSERT OR IGNORE INTO users (email, salt, password_hash, role) "
                         "VALUES (?, ?, ?, ?)", (email, salt, hash_password(password, salt),
                                                 role))
        return schema_version(conn)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def hash_password(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 20_000).hex()


# --------------------------------------------------------------------------- JWT (HS256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: dict, secret: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{_b64(hmac.new(secret, signing_input, hashlib.sha256).digest())}"


class TokenError(Exception):
    pass


def jwt_decode(token: str, secret: bytes) -> dict:
    try:
        header, payload, signature = token.split(".")
        claims = json.loads(_unb64(payload))
        alg = json.loads(_unb64(header)).get("alg")
    except (ValueError, json.JSONDecodeError) as exc:
        raise TokenError("Invalid token: malformed") from exc
    if alg != "HS256":
        raise TokenError(f"Invalid token: unexpected alg {alg!r}")
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except ValueError as exc:
        raise TokenError("Invalid token: malformed") from exc
    if not hmac.compare_digest(expected, given):
        raise TokenError("Invalid token signature")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        raise TokenError(f"JWT expired (sub={claims.get('sub')}, "
                         f"expired {int(time.time() - exp)}s ago)")
    return claims


# --------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = f"crm-backend/{VERSION}"
    settings: Settings  # set on the class at startup

    # -- plumbing --------------------------------------------------------------------

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base class signature
        pass  # replaced by access() so every line carries our timestamp format

    def access(self, status: int, size: int, started: float) -> None:
        path = urlsplit(self.path).path
        if (path == "/health" or path.startswith("/internal/")) \
                and self.client_address[0] == "127.0.0.1":
            return  # the Docker healthcheck, every 2 s, and its own auth calls: noise
        ms = (time.monotonic() - started) * 1000
        level = "WARNING" if status >= 400 else "INFO"
        log(level, f'{self.client_address[0]} "{self.command} {self.path} '
                   f'{self.request_version}" {status} {size} {ms:.1f}ms')

    def send_json(self, status: int, body: dict, started: float) -> None:
        data = json.dumps(body).encode()
        self.send_response_only(status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.access(status, len(data), started)

    def read_json(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 1_000_000)) if length else b""
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    # -- routes ----------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        started = time.monotonic()
        path = urlsplit(self.path).path
        if path == "/health":
            self.health(started)
        elif path == "/api/v1/me":
            claims = self.authorize(started)
            if claims is not None:
                self.send_json(200, {"email": claims.get("email"), "role": claims.get("role"),
                                     "sub": claims.get("sub")}, started)
        elif path == "/api/v1/admin/users":
            claims = self.authorize(started)
            if claims is None:
                return
            if claims.get("role") != "admin":
                log("WARNING", f"[AUTH] Forbidden: {claims.get('email')} lacks role admin "
                               f"for {path}")
                self.send_json(403, {"detail": "Forbidden"}, started)
                return
            with connect(self.settings.db_path or ":memory:") as conn:
                rows = conn.execute("SELECT email, role FROM users ORDER BY id").fetchall()
            self.send_json(200, {"users": [{"email": e, "role": r} for e, r in rows]}, started)
        else:
            self.send_json(404, {"detail": "Not Found"}, started)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        started = time.monotonic()
        parts = urlsplit(self.path)
        if parts.path == "/api/v1/auth/login":
            self.login(started)
        elif parts.path == "/internal/auth/verify":
            self.verify(started)
        elif parts.path == "/debug/flood":
            self.flood(parse_qs(parts.query), started)
        else:
            self.send_json(404, {"detail": "Not Found"}, started)

    def health(self, started: float) -> None:
        path = self.settings.db_path
        if path is None:
            self.send_json(503, {"status": "degraded", "db": "not configured"}, started)
            return
        try:
            with connect(path) as conn:
                version = schema_version(conn)
        except sqlite3.Error as exc:
            log("ERROR", f"[DB] health check failed: {exc}")
            self.send_json(503, {"status": "degraded", "db": "disconnected"}, started)
            return
        auth = self.auth_reachable(quiet=self.client_address[0] == "127.0.0.1")
        if auth is not None:
            self.send_json(503, {"status": "degraded", "db": "connected", "auth": "unreachable",
                                 "schema_version": version}, started)
            return
        self.send_json(200, {"status": "ok", "db": "connected", "schema_version": version,
                             "version": VERSION}, started)

    def auth_reachable(self, quiet: bool = False) -> str | None:
        """None when no auth service is configured or it answers; else why it cannot be
        reached (logged unless ``quiet``: the Docker healthcheck's every 2 s is noise)."""
        url = self.settings.auth_service_url
        if not url:
            return None
        error = call_auth_service(url, {"email": "", "password": ""})[1]
        if error is not None and not quiet:
            log("ERROR", f"[AUTH] Auth service connectivity test failed: POST {url}/verify: "
                         f"{error}")
        return error

    def login(self, started: float) -> None:
        body = self.read_json()
        email = body.get("email") if body else None
        password = body.get("password") if body else None
        if not isinstance(email, str) or not isinstance(password, str):
            self.send_json(400, {"detail": "expected JSON {email, password}"}, started)
            return
        try:
            with connect(self.settings.db_path or ":memory:") as conn:
                row = conn.execute("SELECT id, salt, password_hash, role FROM users "
                                   "WHERE email = ?", (email,)).fetchone()
        except sqlite3.Error as exc:
            log("ERROR", f"[DB] login query failed: {exc}")
            self.send_json(503, {"detail": "database unavailable"}, started)
            return
        if self.settings.auth_service_url:
            self.delegated_login(email, password, row, started)
            return
        if row is None:
            log("WARNING", f"[AUTH] Login failed: user not found: {email}")
            self.send_json(401, {"detail": "Invalid credentials"}, started)
            return
        user_id, salt, stored, role = row
        if not hmac.compare_digest(hash_password(password, salt), stored):
            log("WARNING", f"[AUTH] Login failed: invalid password for {email}")
            self.send_json(401, {"detail": "Invalid credentials"}, started)
            return
        self.issue_token(user_id, email, role, started)

    def issue_token(self, user_id: int, email: str, role: str, started: float) -> None:
        now = int(time.time())
        claims = {"sub": str(user_id), "email": email, "role": role, "iss": "crm-lab",
                  "iat": now, "exp": now + self.settings.jwt_ttl}
        token = jwt_encode(claims, self.settings.jwt_secret)
        log("INFO", f"[AUTH] Login succeeded for {email}")
        self.send_json(200, {"access_token": token, "token_type": "bearer",
                             "expires_in": self.settings.jwt_ttl}, started)

    def delegated_login(self, email: str, password: str, row: tuple | None,
                        started: float) -> None:
        """The login as a backend that asks its auth service answers it (incident 004)."""
        url = self.settings.auth_service_url
        status, error = call_auth_service(url, {"email": email, "password": password})
        if error is not None:
            log("ERROR", f"[AUTH] Auth service connectivity test failed: POST {url}/verify: "
                         f"{error}")
            log("ERROR", "[AUTH] Authentication service communication failed; answering 500")
            self.send_json(500, {"detail": "Internal Server Error"}, started)
            return
        if status != 200 or row is None:
            log("WARNING", f"[AUTH] Login failed: auth service rejected {email}")
            self.send_json(401, {"detail": "Invalid credentials"}, started)
            return
        self.issue_token(row[0], email, row[3], started)

    def verify(self, started: float) -> None:
        """The auth service's own endpoint: 200 for a known user and password, else 401."""
        body = self.read_json() or {}
        email, password = body.get("email"), body.get("password")
        ok = False
        if isinstance(email, str) and isinstance(password, str):
            with connect(self.settings.db_path or ":memory:") as conn:
                row = conn.execute("SELECT salt, password_hash FROM users WHERE email = ?",
                                   (email,)).fetchone()
            ok = row is not None and hmac.compare_digest(hash_password(password, row[0]),
                                                         row[1])
        self.send_json(200 if ok else 401, {"ok": ok}, started)

    def authorize(self, started: float) -> dict | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            log("WARNING", "[AUTH] Missing bearer token")
            self.send_json(401, {"detail": "Not authenticated"}, started)
            return None
        try:
            return jwt_decode(header[len("Bearer "):].strip(), self.settings.jwt_secret)
        except TokenError as exc:
            log("WARNING", f"[AUTH] {exc}")
            self.send_json(401, {"detail": "Could not validate credentials"}, started)
            return None

    def flood(self, query: dict[str, list[str]], started: float) -> None:
        try:
            count = max(0, min(int(query.get("n", ["1000"])[0]), 1_000_000))
            rate = max(0.0, float(query.get("rate", ["0"])[0]))
        except ValueError:
            self.send_json(400, {"detail": "n and rate must be numbers"}, started)
            return
        tag = query.get("tag", ["flood"])[0][:40]
        auth = query.get("auth", ["1"])[0] != "0"
        wait = query.get("wait", ["0"])[0] == "1"
        worker = threading.Thread(target=write_flood, args=(count, rate, tag, auth),
                                  daemon=True)
        worker.start()
        if wait:
            worker.join()
        self.send_json(200 if wait else 202, {"lines": count, "tag": tag, "done": wait},
                       started)


def call_auth_service(url: str, body: dict) -> tuple[int | None, str | None]:
    """``(status, None)`` when the auth service answered, ``(None, why)`` when it did not."""
    request = Request(f"{url}/verify", data=json.dumps(body).encode(), method="POST",
                      headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=3) as answer:
            return answer.status, None
    except HTTPError as exc:
        return exc.code, None
    except URLError as exc:
        reason = exc.reason
        return None, str(reason) if isinstance(reason, OSError) else str(exc)
    except OSError as exc:
        return None, str(exc)


def write_flood(count: int, rate: float, tag: str, auth: bool) -> None:
    """Numbered lines, so a reader can prove none was dropped (gaps show as missing numbers)."""
    started = time.monotonic()
    for i in range(1, count + 1):
        if auth:
            text = (f"[AUTH] Login failed: invalid password for flood-{i:06d}@example.com")
        else:
            text = f'10.0.0.{i % 250} "GET /api/v1/items?page={i} HTTP/1.1" 200 512'
        log("WARNING" if auth else "INFO", f"flood line {i:06d}/{count:06d} tag={tag} {text}")
        if rate > 0:
            ahead = i / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up early is one log line, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log("INFO", f"{client_address[0]} disconnected early ({type(exc).__name__})")
            return
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------- commands


def serve() -> int:
    log("INFO", f"crm backend {VERSION} starting")
    settings = Settings(dict(os.environ))  # raises RuntimeError without JWT_SECRET
    if not settings.service_secret:
        log("WARNING", "[CONFIG] SERVICE_SECRET is not set; internal service calls will be "
                       "rejected")
    if settings.db_path:
        version = init_db(settings.db_path)
        log("INFO", f"[DB] connected to {settings.db_path} (schema version {version})")
    else:
        log("ERROR", "[DB] DATABASE_URL is not set or not sqlite:///; running without a "
                     "database")
    Handler.settings = settings
    server = Server(("0.0.0.0", settings.port), Handler)

    def stop(signum: int, _frame) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log("INFO", f"listening on 0.0.0.0:{settings.port}")
    try:
        server.serve_forever(poll_interval=0.25)
    except (SystemExit, KeyboardInterrupt):
        log("INFO", "shutting down")
    finally:
        server.server_close()
    return 0


MIGRATIONS = (
    ("add_last_login", "ALTER TABLE users ADD COLUMN last_login TEXT"),
    ("create_audit_events", "CREATE TABLE IF NOT EXISTS audit_events (id INTEGER PRIMARY KEY, "
                            "at TEXT, what TEXT)"),
    ("index_users_role", "CREATE INDEX IF NOT EXISTS users_role ON users (role)"),
)


def migrate() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("sqlite:///"):
        print("migrate: DATABASE_URL is not set or not sqlite:///", file=sys.stderr, flush=True)
        return 2
    path = url[len("sqlite:///"):]
    init_db(path)
    with connect(path) as conn:
        current = schema_version(conn)
        target = current + 1
        name, sql = MIGRATIONS[(target - 2) % len(MIGRATIONS)]
        print(f"[MIGRATE] database {path}: schema version {current}", flush=True)
        print(f"[MIGRATE] applying {target:04d}_{name} ...", flush=True)
        for step in ("checking preconditions", "applying changes", "recording version"):
            time.sleep(0.2)
            print(f"[MIGRATE]   {step}", flush=True)
            if step == "applying changes" and _should_fail(path):
                print(f"[MIGRATE] ERROR: migration {target:04d}_{name} failed: "
                      "duplicate column name: last_login", file=sys.stderr, flush=True)
                return 2
        if target <= len(MIGRATIONS) + 1:
            # Already applied by an older run that lost its version row: fine.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute(sql)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),))
    print(f"[MIGRATE] done: schema version {current} -> {target}", flush=True)
    return 0


def _should_fail(db_path: str) -> bool:
    flag = os.path.join(os.path.dirname(db_path), FAIL_FLAG)
    return os.environ.get(FAIL_FLAG) == "1" or os.path.exists(flag)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    if command == "serve":
        return serve()
    if command == "migrate":
        return migrate()
    print(f"usage: {argv[0]} [serve|migrate]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
