"""Unit-suite fixtures."""

from __future__ import annotations

import pytest

from tests import conftest as root


@pytest.fixture(scope="session", autouse=True)
def _probe_postgres_outside_the_loop() -> None:
    """``tests/conftest.py``'s async ``database_url`` fixture calls ``require_postgres()``, whose probe uses
    ``asyncio.run`` -- which cannot run inside the test's event loop. Probe once here, synchronously, so the
    cached answer is used there."""
    root._pg_available()
