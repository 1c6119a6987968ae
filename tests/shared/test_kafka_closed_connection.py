"""A request written to a broker connection that has just closed is a connection error, on uvloop too
(uvicorn's loop in every service). aiokafka catches only OSError there; uvloop raises RuntimeError ("the
handler is closed"), and when that happens in a consumer's group coordination the coordination task dies
for good: every fetch fails with "Unexpected error during coordination", the consumer never rejoins and
its partitions stay where they are (aio-libs/aiokafka#1038). Found by the soak (issue 18): after a broker
hiccup, returns' selection consumer stopped on one partition for the rest of the run."""

from __future__ import annotations

import asyncio

import uvloop
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest

import shared.messaging  # noqa: F401  (installs the guard, as every service imports it)


def on_uvloop(coroutine_function):  # type: ignore[no-untyped-def]
    """Run the coroutine in a uvloop event loop of its own thread (pytest-asyncio's loop is asyncio's)."""

    def run(*args):  # type: ignore[no-untyped-def]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(uvloop.run, coroutine_function(*args)).result()

    return run


@on_uvloop
async def write_after_close(bootstrap: str) -> BaseException | None:
    host, port = bootstrap.split(":")
    conn = await create_conn(host, int(port))
    try:
        conn._writer.transport.close()  # the connection is gone ...
        await asyncio.sleep(0)  # ... uvloop has closed its handle, aiokafka's reader has not noticed yet
        try:
            await conn.send(MetadataRequest([]))
        except BaseException as e:
            return e
        return None
    finally:
        conn.close()


def test_a_write_to_a_closed_connection_is_a_connection_error(kafka_bootstrap: str) -> None:
    error = write_after_close(kafka_bootstrap)
    assert isinstance(error, KafkaConnectionError), repr(error)
