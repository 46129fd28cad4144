"""Fixtures of the scale-out tests: one Redis server per test module (see ``tests/scale/workers.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scale.workers import HAVE_REDIS, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not HAVE_REDIS:
        pytest.skip("needs redis-server (Debian package redis-server)")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
