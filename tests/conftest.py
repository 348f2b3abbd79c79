"""Shared fixtures: every test gets its own workspace; nothing touches the user's."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("wb-home")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    # a developer's own team database or cluster is never a test's: tests that want one ask for it
    for name in ("WORKBENCH_DB_URL", "WORKBENCH_RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def workspace() -> Path:
    return Path(os.environ["WORKBENCH_HOME"])


@pytest.fixture
def engine(workspace: Path):
    from core.engine import Engine

    eng = Engine(workspace)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/postgres.py), stopped at its end."""
    from tests import postgres

    try:
        server = postgres.start()
    except postgres.NoPostgres as exc:
        if os.environ.get("WORKBENCH_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here (WORKBENCH_REQUIRE_POSTGRES) and cannot start: {exc}")
        pytest.skip(f"no PostgreSQL server can be started here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, monkeypatch: pytest.MonkeyPatch):
    """A fresh, empty PostgreSQL database, and WORKBENCH_DB_URL naming it (so subprocesses use it too)."""
    from core.runs import database

    url = postgres_server.create_database()
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    yield url
    database.dispose(database.database_url(".", url))
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def ray_head():
    """One local Ray head for the session (tests/ray_head.py: free ports, its own folder), stopped at its end."""
    from tests import ray_head as heads

    try:
        head = heads.start()
    except heads.NoRay as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"a Ray head is required in CI and cannot start: {exc}")
        pytest.skip(f"no Ray head can be started here: {exc}")
    yield head
    head.stop()


@pytest.fixture
def ray_address(ray_head, monkeypatch: pytest.MonkeyPatch) -> str:
    """WORKBENCH_RAY_ADDRESS naming the session's head: runs and trials go to it."""
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", ray_head.address)
    return ray_head.address


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, workspace: Path) -> str:
    """The store's database, once as the workspace's SQLite file and once as a PostgreSQL database."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    from core.runs import database

    return database.database_url(workspace)


# Under pytest-xdist (make test runs two workers on two cores) tests that share a session-scoped
# service run on one worker, so each service starts once: the browser suite's app server, the
# throwaway PostgreSQL, the Ray head. Without xdist the groups mean nothing.
_GROUPS = (("ray", ("ray_head", "ray_address")), ("postgres", ("postgres_server", "postgres_url", "db_url")))


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a fixture built once per module (a trained run, a fork server, a batch of CLI
    runs): its module's tests then run on one worker, else each worker that gets one builds it again."""
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_gpu = None if torch.cuda.is_available() else pytest.mark.skip(
        reason="needs a CUDA GPU (run through the device tool)")
    for item in items:
        if no_gpu is not None and "gpu" in item.keywords:
            item.add_marker(no_gpu)
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        group = next((name for name, names in _GROUPS if fixtures & set(names)), None)
        if group is None and _shares_a_module_fixture(item):
            group = item.nodeid.split("::", 1)[0]
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
