"""A Dask scheduler to run work on: one line when none answers at the address given."""

from __future__ import annotations

from analysis.errors import InputError


def connect(address: str):
    """A ``dask.distributed.Client`` for ``address`` (a context manager that closes it)."""
    from dask.distributed import Client

    try:
        return Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        raise InputError(f"--dask {address}: no Dask scheduler answers there ({type(error).__name__}: "
                         f"{' '.join(str(error).split())[:200]}): start one, or give its address as tcp://HOST:PORT") \
            from None
