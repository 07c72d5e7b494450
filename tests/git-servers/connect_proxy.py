#!/usr/bin/env python3
"""An HTTP CONNECT proxy on the loopback, for the test that drctl's HTTPS
fetches follow `https_proxy` as git does.

    connect_proxy.py --state DIR

Listens on 127.0.0.1 on a port the kernel picks and writes
`http://127.0.0.1:PORT` to DIR/url (atomically, once listening). Each
CONNECT is appended to DIR/connects.log as `host:port`; the tunnel then
carries the TLS stream untouched (the proxy sees no plaintext, as with a
real corporate proxy). Any other method gets 405. Exits on SIGTERM or when
its stdin closes.
"""

import argparse
import os
import select
import signal
import socket
import socketserver
import sys
import threading


class Proxy(socketserver.StreamRequestHandler):
    def handle(self):
        request = self.rfile.readline(65536).decode("latin-1").strip()
        while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
            pass
        parts = request.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        with open(os.path.join(self.server.state, "connects.log"), "a") as log:
            log.write(f"{parts[1]}\n")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        pipe(self.connection, upstream)


def pipe(a, b):
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    finally:
        b.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Proxy)
    server.state = args.state
    tmp = os.path.join(args.state, "url.tmp")
    with open(tmp, "w") as f:
        f.write(f"http://127.0.0.1:{server.server_address[1]}\n")
    os.rename(tmp, os.path.join(args.state, "url"))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def stop_on_eof():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=stop_on_eof, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
