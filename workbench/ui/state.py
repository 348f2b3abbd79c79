"""What one browser session remembers between pages: the data choice and the runs it started.

Runs, data and results live in the run store; this is only the user's current choices. They
survive a reload: the session's token rides in the URL (?s=...) and its choices are kept in
a small file per token in the workspace (bind_session, save_session). Functions take the session
state as an argument (any MutableMapping) so they are testable with a plain dict.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, MutableMapping

from core.atomic import write_atomic

log = logging.getLogger(__name__)

DATA_CHOICE = "data_choice"
MY_RUNS = "my_runs"  # run ids started from this session, oldest first
SELECTED_RUNS = "selected_runs"  # read by the Runs page
CV_PARENTS = "train_cv_parents"  # cross-validation parents started from the Train page
REPEAT_PARENTS = "train_repeat_parents"  # groups of repeats started from the Train page
KEPT = (DATA_CHOICE, MY_RUNS, SELECTED_RUNS, CV_PARENTS, REPEAT_PARENTS)  # what a reload brings back
SESSION_PARAM = "s"  # the URL's query parameter holding the session's token
TOKEN = "_session_token"
_SAVED_SESSION = "_session_saved"  # what was last written, so an unchanged session writes nothing
_TOKEN_FORM = re.compile(r"[0-9a-f]{16,32}")
DEFAULT_SOURCE, DEFAULT_TARGET = "iris", "species"


@dataclass
class DataChoice:
    """The dataset, target, task and role overrides chosen on the Data page."""

    source: str  # DataConfig.source: a sample's name or a file's path
    target: str
    task: str | None = None  # None: inferred
    roles: dict[str, str] = field(default_factory=dict)  # only the columns whose role the user changed
    name: str = ""  # for display
    image: bool = False  # pixel columns with an image shape (the digits), or image files
    data_kind: str = "table"  # core.vocab.DATA_KINDS
    image_size: int | None = None  # images: the longer side to decode to; None: from the data
    image_color: str = "auto"
    sequence: dict[str, Any] | None = None  # SequenceConfig fields that differ from the defaults; None: rows

    @property
    def label(self) -> str:
        return self.name or self.source

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def get_choice(state: MutableMapping[str, Any]) -> DataChoice | None:
    raw = state.get(DATA_CHOICE)
    if isinstance(raw, DataChoice):
        return raw
    if isinstance(raw, dict):  # set by hand (tests, query params)
        return DataChoice(**raw)
    return None


def set_choice(state: MutableMapping[str, Any], choice: DataChoice) -> None:
    state[DATA_CHOICE] = choice


def choice_or_default(state: MutableMapping[str, Any]) -> tuple[DataChoice, bool]:
    """The session's choice, else iris/species so the Train page works at once. Second item: was it chosen?"""
    choice = get_choice(state)
    if choice is not None:
        return choice, True
    return DataChoice(source=DEFAULT_SOURCE, target=DEFAULT_TARGET, name=DEFAULT_SOURCE), False


def remember_run(state: MutableMapping[str, Any], run_id: str) -> None:
    runs = list(state.get(MY_RUNS) or [])
    if run_id not in runs:
        runs.append(run_id)
    state[MY_RUNS] = runs


def my_runs(state: MutableMapping[str, Any]) -> list[str]:
    return list(state.get(MY_RUNS) or [])


def select_runs(state: MutableMapping[str, Any], run_ids: list[str]) -> None:
    state[SELECTED_RUNS] = list(run_ids)


# --- widgets that keep their value across pages ---------------------------------------
# Streamlit forgets a widget's keyed value once a run does not draw it (the user went to
# another page). Pages call restore_widgets() before drawing and save_widgets() after.
_SAVED = "_saved_widgets"


def restore_widgets(state: MutableMapping[str, Any], prefix: str) -> None:
    saved = state.get(_SAVED, {}).get(prefix, {})
    for key, value in saved.items():
        if key not in state:
            state[key] = value


def forget_widgets(state: MutableMapping[str, Any], prefix: str, keep: tuple[str, ...] = ()) -> None:
    """Drop every value of the widgets under `prefix` (but `keep`), saved ones too: they start from
    their defaults again ("Reset to defaults")."""
    for key in [k for k in list(state.keys()) if isinstance(k, str) and k.startswith(prefix) and k not in keep]:
        del state[key]
    all_saved = dict(state.get(_SAVED, {}))
    all_saved[prefix] = {k: v for k, v in all_saved.get(prefix, {}).items() if k in keep}
    state[_SAVED] = all_saved


def save_widgets(state: MutableMapping[str, Any], prefix: str) -> None:
    values = {k: state[k] for k in list(state.keys()) if isinstance(k, str) and k.startswith(prefix)}
    all_saved = dict(state.get(_SAVED, {}))
    all_saved[prefix] = values
    state[_SAVED] = all_saved


# --- surviving a reload -----------------------------------------------------------------
def bind_session(state: MutableMapping[str, Any], params: MutableMapping[str, Any], folder: Path) -> str:
    """Give the session a token and keep it in the URL's query parameters; on the first run of a session
    whose URL already has one (a reload, a bookmarked tab), bring back what that session had kept."""
    token = state.get(TOKEN)
    if token is None:
        given = str(params.get(SESSION_PARAM) or "")
        token = given if _TOKEN_FORM.fullmatch(given) else uuid.uuid4().hex[:16]
        state[TOKEN] = token
        if given == token:
            for key, value in _read_session(folder, token).items():
                state.setdefault(key, value)
            state[_SAVED_SESSION] = _snapshot(state)
    if params.get(SESSION_PARAM) != token:  # a page change drops the query string: put it back
        params[SESSION_PARAM] = token
    return str(token)


def save_session(state: MutableMapping[str, Any], folder: Path) -> None:
    """Write what a reload should bring back, when it changed since it was last written."""
    token = state.get(TOKEN)
    if token is None:
        return
    snapshot = _snapshot(state)
    if snapshot == state.get(_SAVED_SESSION):
        return
    try:
        write_atomic(Path(folder) / f"{token}.json", json.dumps(snapshot))
    except OSError as exc:  # a read-only workspace: the session still works, a reload forgets it
        log.warning("could not keep the session's choices: %s", exc)
        return
    state[_SAVED_SESSION] = snapshot


def _snapshot(state: MutableMapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in KEPT:
        value = state.get(key)
        if isinstance(value, DataChoice):
            value = value.to_dict()
        if value is not None:
            out[key] = value
    return json.loads(json.dumps(out, default=str))  # a copy: lists in the state grow in place


def _read_session(folder: Path, token: str) -> dict[str, Any]:
    try:
        raw = json.loads((Path(folder) / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # never saved, or damaged: a fresh session
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for key in (MY_RUNS, SELECTED_RUNS, CV_PARENTS, REPEAT_PARENTS):
        if isinstance(raw.get(key), list):
            out[key] = [str(i) for i in raw[key]]
    choice = raw.get(DATA_CHOICE)
    if isinstance(choice, dict):
        try:
            out[DATA_CHOICE] = DataChoice(**choice)
        except TypeError:  # a field this version does not know
            pass
    return out
