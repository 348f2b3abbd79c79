"""Issue 18's walk-through on palmerpenguins' raw file: a sensible target, the running number flagged and
left out, no advice to ignore what is ignored, choices remembered per dataset, no stored file names shown."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data import build_schema, remembered, run_checks
from core.data.roles import default_target
from core.data.schema import infer_roles
from tests.helpers import penguins_raw_path

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(penguins_raw_path())


def test_the_default_target_is_species_not_the_free_text_comments(raw: pd.DataFrame) -> None:
    assert list(raw.columns)[-1] == "Comments"
    assert default_target(list(raw.columns), None, raw) == "Species"
    # without a column named like a target: the last one fit to predict, never free text or a running number
    rest = raw.drop(columns=["Species", "Comments"])
    assert default_target(list(rest.columns), None, rest) == "Delta 13 C (o/oo)"
    assert default_target(list(raw.columns), None) == "Comments"  # no data at hand: the last column, as before


def test_sample_number_is_flagged_and_left_out_of_the_model(raw: pd.DataFrame) -> None:
    roles = infer_roles(raw, "Species")
    assert roles["Sample Number"] == "ignore" and roles["Date Egg"] == "ignore"
    assert roles["Culmen Length (mm)"] == "numeric" and roles["Island"] == "categorical"
    assert "Sample Number" not in build_schema(raw, "Species").features  # so SHAP can never rank it
    found = {c.column: c for c in run_checks(raw, "Species")}
    assert found["Sample Number"].code == "counter" and found["Sample Number"].level == "warning"


def test_checks_do_not_ask_to_ignore_columns_already_ignored(raw: pd.DataFrame) -> None:
    roles = infer_roles(raw, "Species")
    for check in run_checks(raw, "Species", roles=roles):
        if check.column is not None and roles.get(check.column) == "ignore":
            assert check.level == "info" and "Set its role to ignore" not in check.advice, check
    used = {**roles, "Region": "categorical"}  # a user brings a constant column back: the advice returns
    region = next(c for c in run_checks(raw, "Species", roles=used) if c.column == "Region")
    assert region.level == "warning" and "Set its role to ignore" in region.advice


def _open(page: str = "data") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at.switch_page(f"../pages/{page}.py").run()


def _select(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


def test_the_data_page_on_the_raw_file_remembers_its_choices(engine) -> None:
    at = _open()
    at.file_uploader[0].set_value(("penguins-raw.csv", penguins_raw_path().read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    picker = _select(at, "Dataset")
    assert picker.format_func(picker.value) == "penguins-raw.csv (uploaded)"  # not the stored 12-hex name
    assert _select(at, "Target column").value == "Species"
    roles = dict(zip(at.data_editor[0].value["column"], at.data_editor[0].value["role"]))
    assert roles["Sample Number"] == "ignore"
    advice = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "Sample Number" not in advice and "Region" not in advice  # ignored: in the 'left out' list only
    assert any("Left out of training" in e.label for e in at.expander)

    # a choice of target and role, then another dataset, then this one again: the choice is back
    _select(at, "Target column").set_value("Island").run()
    stored = Path(at.session_state["data_choice"].source).name
    at.session_state[f"data_roles::{stored}::Island"] = {"edited_rows": {0: {"role": "ignore"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    source = at.session_state["data_choice"].source
    assert at.session_state["data_choice"].roles == {"studyName": "ignore"}
    _select(at, "Dataset").set_value("iris").run()
    assert _select(at, "Target column").value == "species"
    _select(at, "Dataset").set_value(Path(source).name).run()
    assert _select(at, "Target column").value == "Island"
    assert at.session_state["data_choice"].roles == {"studyName": "ignore"}

    # a new session (a reload) picks the file again: the workspace remembered it
    assert remembered.recall(engine.workspace, source) == remembered.DataChoices("Island", "multiclass",
                                                                                 {"studyName": "ignore"})
    again = _open()
    _select(again, "Dataset").set_value(Path(source).name).run()
    assert _select(again, "Target column").value == "Island"
    train = again.switch_page("../pages/train.py").run()
    assert not train.exception
    header = " ".join(m.value for m in train.markdown).replace("\\", "")
    assert "penguins-raw.csv (uploaded)" in header and Path(source).name not in header
