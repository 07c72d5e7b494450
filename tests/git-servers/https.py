#!/usr/bin/env python3
"""Git smart HTTP over TLS with basic auth, for drctl's integration tests.

Usage:
    DRCTL_GIT_PASSWORD=... https.py --repos DIR --state DIR --user USER

Serves the bare repositories under --repos (GIT_PROJECT_ROOT) through
`git http-backend` (CGI) on https://127.0.0.1:PORT, PORT chosen by the
kernel. Every request needs HTTP basic auth with --user and the password
from the environment variable DRCTL_GIT_PASSWORD (never argv: it would show
in `ps`); anything else gets an empty 401 with
`WWW-Authenticate: Basic realm="drctl-test"`.

Files in --state (see README.md beside this file):
    ca.pem        the throwaway CA's certificate (PEM); trust it with
                  SSL_CERT_FILE / GIT_SSL_CAINFO. Written before `url`.
    pid           this process's pid, decimal, newline. Written before `url`.
    url           `https://127.0.0.1:PORT` and a newline, written atomically
                  (temp file + rename) once the socket listens: poll for it.
    requests.log  one line per response: ISO time, method, path (with its
                  query string, which holds no secret), status,
                  auth=ok|bad|missing. Headers are never logged.
    http-backend.log  git http-backend's stderr.

The CA key never leaves memory; the server key is written 0600 to --state
only for as long as the TLS context takes to load it, then removed.

Stops cleanly on SIGTERM or SIGINT (exit 0) and, with --stop-on-stdin-eof,
when its standard input closes (spawn it with a pipe as stdin and it dies
with the test process that holds the other end, even if that one panics).
Needs Python 3.11 and `cryptography` (the project's .venv has both).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hmac
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REALM = "drctl-test"
PASSWORD_ENV = "DRCTL_GIT_PASSWORD"
# Limits that keep a confused client from pinning a thread or the memory:
# the repositories are tiny, so these are generous.
MAX_BODY = 64 * 1024 * 1024
SOCKET_TIMEOUT = 60.0
CGI_TIMEOUT = 120.0
# CGI response headers that describe the CGI's framing, not the content:
# this server sets its own Content-Length and connection handling.
HOP_BY_HOP = {
    "status",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
}


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that a reader sees all of it or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def make_certificates() -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a server certificate it signs, for 127.0.0.1 and
    localhost. Returns (ca_cert_pem, server_cert_pem, server_key_pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "drctl test CA (throwaway)")]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    return (
        ca_cert.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def tls_context(state: Path, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server TLS context. `load_cert_chain` only reads files, so the key
    is written 0600 to a private temp file in STATE and removed at once."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    fd, key_path = tempfile.mkstemp(dir=state, prefix=".server-key.", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(cert_pem + key_pem)
        ctx.load_cert_chain(key_path)
    finally:
        os.unlink(key_path)
    return ctx


def http_backend() -> str:
    exec_path = subprocess.run(
        ["git", "--exec-path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = os.path.join(exec_path, "git-http-backend")
    if not os.access(path, os.X_OK):
        sys.exit(f"https.py: {path} not found or not executable")
    return path


class BadRequest(Exception):
    pass


class GitServer(ThreadingHTTPServer):
    """Accepts plain TCP connections in the serving thread and does the TLS
    handshake in the connection's own thread, so a client that connects and
    stalls cannot hold up everybody else."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, *, ctx, repos, state, user, password):
        self.ctx = ctx
        self.repos = repos
        self.user = user.encode()
        self.password = password.encode()
        self.backend = http_backend()
        self.log_lock = threading.Lock()
        self.requests_log = open(state / "requests.log", "a", encoding="utf-8")
        self.backend_log = open(state / "http-backend.log", "ab")
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        request.settimeout(SOCKET_TIMEOUT)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            # A client that refused our CA, or a bare TCP probe.
            sys.stderr.write(f"https.py: TLS handshake from {client_address[0]}: {e}\n")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def log_request_line(self, line: str) -> None:
        with self.log_lock:
            self.requests_log.write(line + "\n")
            self.requests_log.flush()

    def server_close(self):
        super().server_close()
        self.requests_log.close()
        self.backend_log.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response has a Content-Length
    server_version = "drctl-test-git"
    sys_version = ""
    server: GitServer

    # -- bookkeeping ------------------------------------------------------

    timeout = SOCKET_TIMEOUT  # also ends idle keep-alive connections

    def parse_request(self):
        # Per request, not per connection: keep-alive carries many.
        self.auth_state = "missing"
        self.remote_user = ""
        return super().parse_request()

    def log_request(self, code="-", size="-"):
        status = code.value if hasattr(code, "value") else code
        when = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        method = getattr(self, "command", "") or "-"
        path = getattr(self, "path", "") or "-"
        # No headers, ever: the Authorization header holds the password.
        path = "".join(c if c.isprintable() and c != " " else "?" for c in path)
        self.server.log_request_line(
            f"{when} {method} {path} {status} auth={getattr(self, 'auth_state', 'missing')}"
        )

    def log_message(self, format, *args):
        sys.stderr.write(f"https.py: {self.client_address[0]} {format % args}\n")

    # -- auth -------------------------------------------------------------

    def check_auth(self) -> bool:
        header = self.headers.get("Authorization")
        if header is None:
            self.auth_state = "missing"
            return False
        scheme, _, token = header.strip().partition(" ")
        ok = False
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token.strip(), validate=True)
            except ValueError:
                decoded = b""
            user, sep, password = decoded.partition(b":")
            # Both compared in constant time, and both always compared.
            user_ok = hmac.compare_digest(user, self.server.user)
            password_ok = hmac.compare_digest(password, self.server.password)
            ok = bool(sep) and user_ok and password_ok
            if ok:
                self.remote_user = user.decode("utf-8", "replace")
        self.auth_state = "ok" if ok else "bad"
        return ok

    def send_401(self, close: bool = False) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Basic realm="{REALM}"')
        self.send_header("Content-Length", "0")
        if close:
            self.send_header("Connection", "close")
        self.end_headers()

    def handle_expect_100(self):
        # Refuse before the client sends its body: then the connection has
        # an unread body in flight, so it is closed after the 401.
        if not self.check_auth():
            self.send_401(close=True)
            return False
        return super().handle_expect_100()

    # -- request bodies ---------------------------------------------------

    def read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            codings = [c.strip().lower() for c in te.split(",") if c.strip()]
            if codings != ["chunked"]:
                raise BadRequest(f"unsupported Transfer-Encoding {te!r}")
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise BadRequest("bad Content-Length")
        n = int(length)
        if n > MAX_BODY:
            raise BadRequest("request body too large")
        return self.read_exact(n)

    def read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise BadRequest("connection closed in the request body")
        return data

    def read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BadRequest("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size < 0 or len(body) + size > MAX_BODY:
                raise BadRequest("request body too large")
            if size == 0:
                break
            body += self.read_exact(size)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadRequest("chunk not followed by CRLF")
        # Trailer section, up to the empty line.
        for _ in range(100):
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                return bytes(body)
        raise BadRequest("too many trailers")

    # -- methods ----------------------------------------------------------

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def serve(self):
        authed = self.auth_state == "ok" or self.check_auth()
        try:
            # Read the body even for a 401, so that the connection stays in
            # step for the client's retry on the same connection.
            body = self.read_body()
        except BadRequest as e:
            self.send_error(400, str(e))
            return
        except (TimeoutError, ConnectionError) as e:
            self.log_error("reading the request body: %r", e)
            self.close_connection = True
            return
        if not authed:
            self.send_401()
            return
        self.run_backend(body)

    def run_backend(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        path_info = unquote(path)
        if "\0" in path_info:
            self.send_error(400, "NUL in path")
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.repos),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.remote_user,
            "REMOTE_ADDR": self.client_address[0],
            "AUTH_TYPE": "Basic",
        }
        for header, var in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "GIT_PROTOCOL"),
        ):
            value = self.headers.get(header)
            if value:
                env[var] = value
        # A test may set HOME/XDG_CONFIG_HOME for the server; keep git from
        # reading the user's config otherwise.
        for var in ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_NOSYSTEM"):
            if var in os.environ:
                env[var] = os.environ[var]
        try:
            proc = subprocess.run(
                [self.server.backend],
                input=body,
                env=env,
                stdout=subprocess.PIPE,
                stderr=self.server.backend_log,
                timeout=CGI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.send_error(504, "git http-backend timed out")
            return
        self.send_cgi_output(proc.stdout)

    def send_cgi_output(self, out: bytes) -> None:
        # The header block ends at the first empty line (CRLF or LF).
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := out.find(sep)) >= 0]
        if not ends:
            self.send_error(502, "git http-backend sent no CGI headers")
            return
        i, n = min(ends)
        head, body = out[:i], out[i + n:]
        status, reason = 200, None
        headers = []
        for raw in head.splitlines():
            line = raw.decode("latin-1").strip()
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                self.send_error(502, "bad CGI header line")
                return
            name, value = name.strip(), value.strip()
            if name.lower() == "status":
                code, _, reason_text = value.partition(" ")
                if not code.isdigit():
                    self.send_error(502, "bad CGI Status")
                    return
                status, reason = int(code), reason_text or None
            elif name.lower() not in HOP_BY_HOP:
                headers.append((name, value))
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="git smart HTTP over TLS with basic auth (test server)"
    )
    parser.add_argument("--repos", required=True, type=Path, help="GIT_PROJECT_ROOT")
    parser.add_argument("--state", required=True, type=Path, help="directory for ca.pem, url, pid, logs")
    parser.add_argument("--user", required=True, help="the basic-auth user")
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="exit when standard input reaches end of file",
    )
    args = parser.parse_args()

    password = os.environ.get(PASSWORD_ENV)
    if not password:
        print(f"https.py: set {PASSWORD_ENV} to the password", file=sys.stderr)
        return 2
    repos = args.repos.resolve()
    if not repos.is_dir():
        print(f"https.py: --repos {repos} is not a directory", file=sys.stderr)
        return 2
    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    # A `url` left by an earlier run would tell a poller we are up already.
    for stale in ("url", "pid"):
        (state / stale).unlink(missing_ok=True)

    ca_pem, cert_pem, key_pem = make_certificates()
    ctx = tls_context(state, cert_pem, key_pem)
    del key_pem
    write_atomic(state / "ca.pem", ca_pem)

    server = GitServer(
        ("127.0.0.1", 0),
        Handler,
        ctx=ctx,
        repos=repos,
        state=state,
        user=args.user,
        password=password,
    )
    port = server.server_address[1]

    def stop(*_):
        # shutdown() waits for serve_forever() to return: not from its thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.stop_on_stdin_eof:

        def watch_stdin():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            stop()

        threading.Thread(target=watch_stdin, daemon=True).start()

    write_atomic(state / "pid", f"{os.getpid()}\n".encode())
    # The socket has listened since the constructor: now tell the world.
    write_atomic(state / "url", f"https://127.0.0.1:{port}\n".encode())
    print(f"https.py: serving {repos} on https://127.0.0.1:{port}", file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for name in ("url", "pid"):
            (state / name).unlink(missing_ok=True)
    print("https.py: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
