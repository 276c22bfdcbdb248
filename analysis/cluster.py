"""A Dask scheduler to run work on: one line when none answers at the address given."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from analysis.errors import InputError

# A refused port is refused at once; Dask itself retries until its timeout (20 s) before it says so.
PROBE_SECONDS = 5


def _refused(address: str) -> OSError | None:
    """The error of a plain TCP connection to a ``tcp://HOST:PORT`` address; None when it connects or the
    address is of another kind (Dask's own checks then speak)."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme != "tcp" or not host or port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return None
    except OSError as error:
        return error


def _unanswered(address: str, error: BaseException) -> InputError:
    return InputError(f"--dask {address}: no Dask scheduler answers there ({type(error).__name__}: "
                      f"{' '.join(str(error).split())[:200]}): start one, or give its address as tcp://HOST:PORT")


def connect(address: str):
    """A ``dask.distributed.Client`` for ``address`` (a context manager that closes it)."""
    refused = _refused(address)
    if refused is not None:
        raise _unanswered(address, refused)
    from dask.distributed import Client

    try:
        return Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise _unanswered(address, error) from None
