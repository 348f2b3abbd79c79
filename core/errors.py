"""Errors a user can act on. Their message is shown as-is in the UI and CLI."""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base for every error whose message is fit for a user (no traceback)."""


class DataError(WorkbenchError):
    """The data cannot be read or cannot be used for the chosen task."""


class ConfigError(WorkbenchError):
    """A run configuration is invalid or inconsistent."""


class RunNotFound(WorkbenchError):
    """A run id that the store does not know."""
