"""What one browser session remembers between pages: the data choice and the runs it started.

Everything that must survive a reload lives in the run store; this is only the user's
current choices. Functions take the session state as an argument (any MutableMapping)
so they are testable with a plain dict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, MutableMapping

DATA_CHOICE = "data_choice"
MY_RUNS = "my_runs"  # run ids started from this session, oldest first
SELECTED_RUNS = "selected_runs"  # read by the Runs page
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


def save_widgets(state: MutableMapping[str, Any], prefix: str) -> None:
    values = {k: state[k] for k in list(state.keys()) if isinstance(k, str) and k.startswith(prefix)}
    all_saved = dict(state.get(_SAVED, {}))
    all_saved[prefix] = values
    state[_SAVED] = all_saved
