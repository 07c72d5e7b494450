"""Start moto's server with drctl's extension, on the loopback interface.

    python emulator/server.py --port 4599
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def make_app():
    from drctl_moto import install

    install()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from drctl_moto.control import DrctlApp

    return DrctlApp(DomainDispatcherApplication(create_backend_app))


def make_server(host: str, port: int):
    from werkzeug.serving import make_server as werkzeug_server

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return werkzeug_server(host, port, make_app(), threaded=True, request_handler=MotoRequestHandler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="drctl's local AWS (moto + extension)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DRCTL_EMULATOR_PORT", "4599")))
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the emulator listens on the loopback interface only")
    server = make_server(args.host, args.port)
    print(f"drctl emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
