"""Free TCP ports on the loopback interface, for servers started on one computer: the demo's
broker and API, and the servers the tests and the benchmarks start."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(preferred: int = 0) -> int:
    """`preferred` if nothing listens there, else one the system picks. Free when asked: another
    process may still take it before the caller binds it."""
    for port in dict.fromkeys((preferred, 0)):  # 0 once, when nothing is preferred
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            chosen: int = probe.getsockname()[1]
            return chosen
    raise OSError("no free port")
