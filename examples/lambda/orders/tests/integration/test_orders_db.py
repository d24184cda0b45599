"""Integration tests of the example function against PostgreSQL: what api-ci's `integration tests (PostgreSQL)`
job runs, with DATABASE_URL pointing at its postgres service container (workflows/api-ci.yml)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the function's directory

import orders_store
from app import handler


@pytest.fixture
def conn() -> Iterator[Any]:
    try:
        url = orders_store.database_url()
    except ValueError as exc:  # a missing database fails the job; it never skips it
        pytest.fail(f"{exc} (the job's PostgreSQL service container)")
    with orders_store.connect(url) as connection:
        orders_store.migrate(connection)
        orders_store.migrate(connection)  # idempotent: a second run of the migration changes nothing
        with connection.transaction():
            connection.execute("TRUNCATE orders")
        yield connection


def test_an_order_the_function_totals_is_stored_and_read_back(conn: Any) -> None:
    body = json.dumps({"items": [{"quantity": 3, "price_cents": 250}, {"quantity": 1, "price_cents": 99}]})
    answer = json.loads(handler({"body": body}, None)["body"])
    order_id = orders_store.save(conn, total_cents=answer["total_cents"], lines=answer["lines"])
    with orders_store.connect(orders_store.database_url()) as other:  # committed: another session sees it
        assert orders_store.get(other, order_id) == {"id": order_id, "total_cents": 849, "lines": 2}
    assert orders_store.get(conn, order_id + 1000) is None


def test_each_order_gets_its_own_id(conn: Any) -> None:
    ids = [orders_store.save(conn, total_cents=n * 100, lines=1) for n in range(3)]
    assert len(set(ids)) == 3
    assert [orders_store.get(conn, i)["total_cents"] for i in ids] == [0, 100, 200]  # type: ignore[index]


def test_the_table_refuses_what_the_store_refuses(conn: Any) -> None:
    import psycopg

    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("INSERT INTO orders (total_cents, lines) VALUES (-1, 1)")
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("INSERT INTO orders (total_cents, lines) VALUES (1, 0)")
