"""The one door to ClickHouse: embedded chDB by path, or a ClickHouse server by URL.

Both go through clickhouse-connect, so the schema and every query are the same
text for the embedded default and for a server or cluster. This is the only module
that imports clickhouse_connect.

chDB runs one engine per process and locks its directory against other processes,
so in embedded mode exactly one owner (one Ray actor) opens the store and everyone
else asks it. Nothing here knows about Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import urlsplit

import clickhouse_connect

__all__ = ["Store", "open_store"]


class Store:
    """A clickhouse-connect client narrowed to what projections need."""

    def __init__(self, client: Any, *, where: str) -> None:
        self._client = client
        self.where = where  # for messages and status: a path or a URL without password

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._client.command(sql, parameters=parameters)

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query; values are bound server-side with `{name:Type}` placeholders."""
        return list(self._client.query(sql, parameters=parameters).named_results())

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        column_types: Sequence[str] | None = None,
    ) -> None:
        """One columnar insert: clickhouse-connect writes columns ~6x faster than rows.
        Given the column types, it skips asking the server to describe the table."""
        self._client.insert(
            table,
            list(columns),
            column_names=list(column_names),
            column_type_names=None if column_types is None else list(column_types),
            column_oriented=True,
        )

    def insert_native(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert a block already in Native format (projections.native): nothing is
        encoded here, the bytes go to chDB or the server as they are."""
        self._client.raw_insert(table, list(column_names), data, settings=settings, fmt="Native")

    def close(self) -> None:
        # Closing the last chDB client releases the engine, so the process could open
        # another path afterwards.
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str | None = None, path: str | None = None) -> Store:
    """`path`: embedded chDB in that directory; `url`: a server, e.g.
    `http://user:pass@host:8123/db`. Exactly one of them."""
    if (url is None) == (path is None):
        raise ValueError("open_store needs exactly one of url= (a server) or path= (chDB)")
    if path is not None:
        return Store(clickhouse_connect.get_client(interface="chdb", path=path), where=path)
    # clickhouse-connect picks TLS from the port alone; an https:// URL means TLS.
    scheme = urlsplit(url).scheme
    interface = scheme if scheme in ("http", "https") else None
    client = clickhouse_connect.get_client(dsn=url, interface=interface)
    return Store(client, where=_without_password(url))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
