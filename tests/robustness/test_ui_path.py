"""Every corpus file through what the Data page calls: add_upload, load, profile, run_checks, build_schema.

Each file loads and is described (with the degenerate parts flagged), or the user gets a
specific one-line message; nothing crashes, nothing takes more than 10 s of CPU.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.data import Catalog, build_schema, load_dataset, profile, run_checks
from core.errors import DataError
from tests.robustness.corpus import Case, cases
from tests.robustness.readable import assert_readable

CPU_LIMIT_S = 10.0
WALL_LIMIT_S = 60.0  # a hang guard; the machine may be shared, so CPU time is the real bound


def _ui_path(catalog: Catalog, case: Case, data: bytes) -> tuple[str, str]:
    """('upload' | 'blocked' | 'ok', message) for one file, as the Data page would see it."""
    try:
        ref = catalog.add_upload(case.name, data)
    except DataError as exc:
        return "upload", str(exc)
    frame = load_dataset(ref)
    prof = profile(frame)
    assert prof.n_rows == len(frame) and prof.n_cols == frame.shape[1]
    checks = run_checks(frame, case.target)
    for check in checks:
        assert_readable(check.message)
        assert_readable(check.advice)
    missing = set(case.flags) - {c.code for c in checks}
    assert not missing, f"{case.name}: checks did not flag {sorted(missing)}: {[c.code for c in checks]}"
    errors = [f"{c.message} {c.advice}" for c in checks if c.level == "error"]
    try:
        schema = build_schema(frame, case.target)
    except DataError as exc:
        return "blocked", " ".join([str(exc), *errors])
    assert schema.features, case.name
    return ("blocked", " ".join(errors)) if errors else ("ok", "")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_ui_path(case: Case, corpus: dict[str, Path], tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "workspace")
    data = corpus[case.name].read_bytes()
    cpu, wall = time.process_time(), time.monotonic()
    outcome, message = _ui_path(catalog, case, data)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert cpu < CPU_LIMIT_S and wall < WALL_LIMIT_S, f"{case.name}: {cpu:.1f} s CPU, {wall:.1f} s wall"
    assert outcome == (case.refused or "ok"), f"{case.name}: {outcome} ({message})"
    if outcome == "upload":
        assert_readable(message)
        assert case.name in message  # says which file
        stored = list(catalog.uploads_dir.iterdir()) if catalog.uploads_dir.exists() else []
        assert stored == [], f"a refused upload left {stored}"
    if case.refused:
        assert case.message.lower() in message.lower(), f"{case.name}: {message!r}"


def test_corpus_is_big_and_varied() -> None:
    all_cases = cases()
    assert len(all_cases) >= 40
    assert len({c.name for c in all_cases}) == len(all_cases)
    assert {c.refused for c in all_cases} == {None, "upload", "blocked"}
    assert sum(c.cli for c in all_cases) >= 12
