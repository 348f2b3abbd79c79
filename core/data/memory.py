"""Will a table fit in memory? Its size once loaded, estimated before parsing, against the memory there is.

Uploads are capped in bytes and Parquet files are bounded from their footer, but a CSV given by
path on the command line can be any size: parsed blindly, a file larger than memory ends in an
OOM kill. `check_fits` turns that into a message, before a byte of the table is parsed.

The budget is WORKBENCH_MAX_DATA_MB when set, else the memory the kernel reports as available
(MemAvailable, which counts reclaimable cache, capped by a container's cgroup limit).
"""
from __future__ import annotations

import os
from pathlib import Path

from core.errors import ConfigError, DataError

BUDGET_ENV = "WORKBENCH_MAX_DATA_MB"
# pandas' C parser keeps every field's text plus an 8-byte offset to it until the columns are
# built, and each column holds at least 8 bytes a value (float64, int64 or an object pointer).
# Measured peaks run 10-30% above text + 16 bytes a cell, so this estimate errs low.
PARSE_BYTES_PER_CELL = 16
_CGROUP_LIMITS = (  # v2, v1: (limit, memory.stat, its key for memory held that is not reclaimable cache)
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.stat"), "anon"),
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"), Path("/sys/fs/cgroup/memory/memory.stat"), "total_rss"),
)


def memory_budget() -> tuple[int, str] | None:
    """(bytes one table may take while it loads, what sets that figure), or None where it cannot be told."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if raw:
        try:
            mb = float(raw)
        except ValueError:
            mb = float("nan")
        if not mb > 0 or mb == float("inf"):
            raise ConfigError(f"{BUDGET_ENV} must be a number of megabytes above 0, not '{raw[:40]}'")
        return int(mb * 2**20), f"the limit set by {BUDGET_ENV}"
    free = available_memory()
    return None if free is None else (free, "the memory free on this machine")


def available_memory() -> int | None:
    """Bytes this process could still allocate: MemAvailable, or free pages where /proc is missing,
    capped by the cgroup's limit less what its processes already hold."""
    free = _meminfo_available()
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not on macOS or Windows
            return None
    cap = _cgroup_headroom()
    return free if cap is None else min(free, cap)


def text_table_bytes(file_bytes: int, head_bytes: int, head_text: str, delimiter: str,
                     max_rows: int | None = None) -> int:
    """Peak memory for parsing a delimited text file, extrapolated from its first `head_bytes` bytes
    (decoded as `head_text`): the text itself plus PARSE_BYTES_PER_CELL for every value."""
    if head_bytes <= 0:
        return file_bytes
    newline = "\n" if "\n" in head_text else "\r"
    rows_in_head = max(head_text.count(newline), 1)
    cells_in_head = head_text.count(delimiter) + rows_in_head
    scale = file_bytes / head_bytes
    share = 1.0
    if max_rows is not None:
        share = min(1.0, (max_rows + 1) / (rows_in_head * scale))  # +1: the header row
    cells = cells_in_head * scale
    return int(share * (file_bytes + PARSE_BYTES_PER_CELL * cells))


def check_fits(name: str, file_bytes: int, need_bytes: int) -> None:
    """Refuse a table whose load would need more memory than the budget, saying by how much."""
    budget = memory_budget()
    if budget is None or need_bytes <= budget[0]:
        return
    limit, source = budget
    remedy = f"or raise {BUDGET_ENV}" if source.endswith(BUDGET_ENV) else "or a machine with more memory"
    need = "at least as much memory" if need_bytes <= file_bytes else f"about {shown_size(need_bytes)} of memory"
    raise DataError(f"'{name}' is too large to load: the file is {shown_size(file_bytes)} and reading it needs "
                    f"{need}, more than {shown_size(limit)} ({source}). "
                    f"Use a sample of its rows (the first 100,000, say), fewer columns, {remedy}.")


def shown_size(n: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> int | None:
    for limit_file, stat_file, held_key in _CGROUP_LIMITS:
        try:
            raw = limit_file.read_text().strip()
        except OSError:
            continue
        if raw == "max" or not raw.isdigit() or int(raw) >= 2**60:  # no limit ("max", or v1's huge number)
            return None
        held = 0
        try:
            for line in stat_file.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == held_key:
                    held = int(value)
                    break
        except (OSError, ValueError):
            pass
        return max(int(raw) - held, 0)
    return None
