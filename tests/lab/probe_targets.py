"""HTTP(S) endpoints for the lab's blackbox_exporter to probe, one per failure class.

Run as ``python -m tests.lab.probe_targets HTTP_PORT HTTPS_PORT CERT KEY``. Paths:
``/ok`` answers 200 ``{"status": "ok"}``; ``/502`` answers nginx's own 502 page;
``/degraded`` answers 200 ``{"status": "degraded"}``; ``/hang`` never answers;
``/t/N`` (any N) answers 200, for the 500-target benchmark. The HTTPS port serves the same
paths with a certificate that expires within two days.
"""

from __future__ import annotations

import http.server
import ssl
import sys
import threading
import time

# nginx's own 502 page, as src/http/ngx_http_special_response.c builds it
# (ngx_http_error_502_page followed by ngx_http_error_tail).
NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path == "/hang":
            time.sleep(3600)
            return
        if path == "/502":
            self._send(502, NGINX_502, "text/html", server="nginx")
        elif path == "/degraded":
            self._send(200, b'{"status": "degraded", "auth": "unreachable"}', "application/json")
        elif path == "/ok" or path.startswith("/t/"):
            self._send(200, b'{"status": "ok"}', "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str, server: str = "lab-targets") -> None:
        self.send_response(code)
        self.send_header("Server", server)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        return ""

    def log_message(self, *args: object) -> None:
        pass


def serve(http_port: int, https_port: int, cert: str, key: str) -> None:
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), Handler)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", https_port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        server.daemon_threads = True
    threading.Thread(target=secure.serve_forever, daemon=True).start()
    plain.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
