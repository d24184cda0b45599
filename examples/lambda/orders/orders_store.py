"""Orders kept in PostgreSQL: one table, save an order's total and read it back. The example's integration tests
(tests/integration) run this against the database api-ci's PostgreSQL service container provides (DATABASE_URL)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    lines       integer NOT NULL CHECK (lines > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
)
"""


def database_url(environ: Mapping[str, str] = os.environ) -> str:
    url = environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("DATABASE_URL must be set to a postgresql:// URL")
    return url


def connect(url: str) -> Any:
    import psycopg  # the driver is needed only where a database is (integration tests, a deployed function)

    return psycopg.connect(url)


def migrate(conn: Any) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


def save(conn: Any, *, total_cents: int, lines: int) -> int:
    """Stores a totalled order (committed); returns its id."""
    if not isinstance(total_cents, int) or total_cents < 0:
        raise ValueError("total_cents must be a non-negative integer")
    if not isinstance(lines, int) or lines < 1:
        raise ValueError("lines must be a positive integer")
    with conn.transaction():
        row = conn.execute("INSERT INTO orders (total_cents, lines) VALUES (%s, %s) RETURNING id",
                           (total_cents, lines)).fetchone()
    return int(row[0])


def get(conn: Any, order_id: int) -> dict[str, int] | None:
    row = conn.execute("SELECT id, total_cents, lines FROM orders WHERE id = %s", (order_id,)).fetchone()
    return None if row is None else {"id": row[0], "total_cents": row[1], "lines": row[2]}
