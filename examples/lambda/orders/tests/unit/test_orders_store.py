"""What the order store checks before it reaches a database (its SQL runs in tests/integration)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the function's directory

import orders_store


def test_the_database_url_must_be_postgresql() -> None:
    url = "postgresql://api:x@localhost:5432/api_test"
    assert orders_store.database_url({"DATABASE_URL": url}) == url
    for environ in ({}, {"DATABASE_URL": ""}, {"DATABASE_URL": "sqlite:///orders.db"}):
        with pytest.raises(ValueError, match="DATABASE_URL"):
            orders_store.database_url(environ)


@pytest.mark.parametrize(("total", "lines"), [(-1, 1), (100, 0), ("100", 1), (100, 1.5)])
def test_bad_orders_are_refused_before_any_sql(total: object, lines: object) -> None:
    with pytest.raises(ValueError):
        orders_store.save(None, total_cents=total, lines=lines)  # type: ignore[arg-type]
