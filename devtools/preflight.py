"""Before `make run`: every port the local system needs must be free; say clearly which is not."""

from __future__ import annotations

import os
import socket
import sys


def _port(env: str, default: int) -> int:
    return int(os.environ.get(env, default))


PORTS = {
    "gateway (Caddy)": _port("JPASS_GATEWAY_PORT", 8080),
    "broker (Tansu)": _port("JPASS_BROKER_PORT", 9092),
    "search": _port("JPASS_SEARCH_PORT", 8001),
    "selection": _port("JPASS_SELECTION_PORT", 8002),
    "returns #1": _port("JPASS_RETURNS1_PORT", 8003),
    "returns #2": _port("JPASS_RETURNS2_PORT", 8013),
    "approvals": _port("JPASS_APPROVALS_PORT", 8004),
    "mailer": _port("JPASS_MAILER_PORT", 8005),
    "devtools (login, mail catcher, TFC console)": _port("JPASS_DEVTOOLS_PORT", 8100),
    "SMTP mail catcher": _port("JPASS_SMTP_CATCHER_PORT", 1025),
}


def busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main() -> int:
    taken = [(name, port) for name, port in PORTS.items() if busy(port)]
    if not taken:
        return 0
    print("J-PASS cannot start: these ports are already in use:", file=sys.stderr)
    for name, port in taken:
        print(f"  - 127.0.0.1:{port} ({name})", file=sys.stderr)
    print(
        "Stop whatever holds them (an earlier `make run`? see `ss -ltnp | grep <port>`) and try again.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
