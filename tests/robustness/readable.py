"""What a message fit for a user looks like: one line, no traceback, no Python internals."""
from __future__ import annotations

INTERNALS = ("Traceback", "File \"", "Error:", "Exception", "<class", "0x7f")


def assert_readable(text: str, *, limit: int = 600) -> None:
    assert text and text.strip() == text, repr(text)
    assert "\n" not in text and "\r" not in text, f"more than one line: {text!r}"
    assert not any(marker in text for marker in INTERNALS), f"Python internals in: {text!r}"
    assert len(text) <= limit, f"{len(text)} characters: {text[:200]!r}..."
