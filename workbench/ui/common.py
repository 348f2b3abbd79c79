"""The page registry and small helpers every page shares: links, errors, formatting."""
from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import streamlit as st

from core.errors import WorkbenchError
from core.runs.store import RunRecord
from core.vocab import CLASSIFICATION_TASKS, primary_metric

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"


@dataclass(frozen=True)
class PageInfo:
    name: str  # file stem and url path
    title: str
    icon: str


# Navigation order. A page whose file does not exist (yet) is left out.
PAGES: tuple[PageInfo, ...] = (
    PageInfo("home", "Home", ":material/home:"),
    PageInfo("data", "Data", ":material/table_chart:"),
    PageInfo("train", "Train", ":material/model_training:"),
    PageInfo("runs", "Runs", ":material/leaderboard:"),
    PageInfo("explain", "Explain", ":material/psychology:"),
    PageInfo("optimize", "Optimize", ":material/compress:"),
    PageInfo("export", "Export", ":material/ios_share:"),
    PageInfo("monitor", "Monitor", ":material/monitor_heart:"),
    PageInfo("tune", "Tune", ":material/tune:"),
)


def page_path(name: str) -> Path:
    return PAGES_DIR / f"{name}.py"


def existing_pages() -> list[PageInfo]:
    return [p for p in PAGES if page_path(p.name).is_file()]


def page_info(name: str) -> PageInfo:
    return next(p for p in PAGES if p.name == name)


def page_registered(name: str) -> bool:
    """Whether st.navigation registered this page in the current run (links to others raise)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    target = str(page_path(name).resolve())
    return any(str(info.get("script_path")) == target for info in ctx.pages_manager.get_pages().values())


def page_link(name: str, label: str | None = None, **kwargs: Any) -> bool:
    """st.page_link to one of our pages by name; draws nothing if the page is not in the app."""
    if not page_registered(name):
        return False
    info = page_info(name)
    st.page_link(str(page_path(name)), label=label or info.title, icon=kwargs.pop("icon", info.icon), **kwargs)
    return True


def switch_page(name: str) -> None:
    if page_registered(name):
        st.switch_page(str(page_path(name)))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


# A help icon sits inside its checkbox's or toggle's <label>, so a click on it toggled the switch (Early
# stopping, Cross-validate): the label reacts to the press (react-aria, on pointer events) and the browser
# activates a label's control on a click. Stopping those events on the icon, before the app's own
# listeners, leaves the switch alone; the tooltip still opens on hover.
_HELP_ICON_GUARD = """<script>
if (!window.__workbenchHelpGuard) {
  window.__workbenchHelpGuard = true;
  const onHelpIcon = (event) => {
    const icon = event.target.closest && event.target.closest('[data-testid="stTooltipHoverTarget"]');
    return icon && icon.closest("label");
  };
  for (const type of ["pointerdown", "pointerup", "mousedown", "mouseup", "touchstart", "touchend", "click"]) {
    document.addEventListener(type, (event) => {
      if (!onHelpIcon(event)) return;
      event.stopPropagation();
      if (type === "click") event.preventDefault();
    }, true);
  }
}
</script>"""


def guard_help_icons() -> None:
    """Once per page load (the app shell calls it): clicking a help icon never toggles its switch."""
    st.sidebar.html(_HELP_ICON_GUARD, unsafe_allow_javascript=True)


def md_escape(text: object) -> str:
    """User text (file, column and run names; messages quoting them) as literal Markdown.

    Streamlit renders Markdown in st.markdown, st.error, st.caption...: a run named
    '![x](http://...)' would otherwise become an image the browser fetches."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a WorkbenchError as st.error with its message (written for users), never a traceback."""
    try:
        yield
    except WorkbenchError as exc:
        st.error(md_escape(exc), icon=":material/error:")


# --- formatting ----------------------------------------------------------------
# What a run is judged by, in words for a help text: "accuracy for classification, r2 for regression".
PRIMARY_METRICS = (f"{primary_metric(CLASSIFICATION_TASKS[0])} for classification, "
                   f"{primary_metric('regression')} for regression")
STATUS_ICONS = {
    "queued": "⏳", "running": "▶️", "paused": "⏸️", "completed": "✅", "failed": "❌", "cancelled": "⏹️", "interrupted": "⚠️",
}


def status_label(status: str) -> str:
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def status_message(run: RunRecord) -> tuple[str, str] | None:
    """(level, Markdown text) for a run that did not simply complete; level is info, warning or error.

    The one wording of a run's status, on the Runs page and in the Train page's live panel."""
    reason = (run.status_reason or "").strip()
    because = f": {md_escape(reason)}" if reason else ""  # reasons quote column and file names
    end = "" if reason.endswith((".", "!", "?")) else "."
    if run.status == "failed":
        return "error", f"This run failed{because}{end}"
    if run.status == "interrupted":
        return "warning", f"This run was interrupted{because}{end} {_kept(run) or 'Start it again to finish it.'}"
    if run.status == "cancelled":
        return "warning", f"This run was stopped before it finished{because}{end} {_kept(run)}".rstrip()
    if run.status == "running":
        epoch, epochs = run.progress.get("epoch"), run.progress.get("epochs")
        where = f" (epoch {epoch} of {epochs})" if epoch and epochs else ""
        return "info", f"This run is training{where}; its curves update live."
    if run.status == "paused":
        epoch, epochs = run.progress.get("epoch"), run.progress.get("epochs")
        where = f" at epoch {epoch} of {epochs}" if epoch and epochs else ""
        return "info", f"This run is paused{where}: its curves and weights stay; resume it to go on."
    if run.status == "queued":
        return "info", "This run is waiting for its turn to train."
    return None


def _kept(run: RunRecord) -> str:
    """What a stopped run kept, in words (core.runs.execute evaluates a stopped run's kept weights)."""
    stopped = run.summary.get("stopped_at") or {}
    if not run.has_model or not stopped:
        return ""
    return (f"It kept its weights from epoch {stopped.get('epoch')} of {stopped.get('epochs')}: their test "
            "metrics are below, and it can be explained and exported.")


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 1:
        return "under 1 s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_ago(timestamp: float | None, now: float | None = None) -> str:
    if timestamp is None:
        return "–"
    delta = (now if now is not None else time.time()) - timestamp
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def format_metric(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def device_line(device: dict[str, Any]) -> str:
    """'NVIDIA H100 — 75.2 of 79.6 GB free' or 'CPU (8 threads)'."""
    if device.get("free_gb") is not None:
        return f"{device['name']} — {device['free_gb']:.1f} of {device['total_gb']:.1f} GB free"
    return str(device["name"])


def gpu_option(device: dict[str, Any]) -> str:
    """One GPU of several in a device select: 'GPU 1: NVIDIA H100 (70 GB free)'."""
    free = f" ({device['free_gb']:.0f} GB free)" if device.get("free_gb") is not None else ""
    return f"GPU {device['index']}: {device['name']}{free}"
