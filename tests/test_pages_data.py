"""Data in AppTest: pick a sample, choose the target, roles and task, upload files, see the checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "workbench" / "app.py"


def open_data() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at.switch_page("../pages/data.py").run()


def shown(markdown: str) -> str:
    """Text as the reader sees it: user strings are Markdown-escaped on the page."""
    return markdown.replace("\\", "")


def select(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


def test_defaults_to_iris_predicting_species() -> None:
    at = open_data()
    assert not at.exception and not at.error
    assert select(at, "Dataset").value == "iris"
    assert select(at, "Target column").value == "species"
    assert select(at, "Task").value == "multiclass"
    choice = at.session_state["data_choice"]
    assert (choice.source, choice.target, choice.task, choice.roles) == ("iris", "species", "multiclass", {})
    assert any("Fisher" in c.value for c in at.caption)  # the sample's description
    assert at.number_input[0].label.startswith("Page") and at.number_input[0].max == 3
    assert len(at.dataframe[0].value) == 50  # the first page of the preview


def plots_and_what_follows(node) -> list[str | None]:
    """For every plotly chart in the element tree, the type of the element right after it."""
    found: list[str | None] = []
    kids = getattr(node, "children", None) or {}
    items = [kids[k] for k in sorted(kids)]
    for i, child in enumerate(items):
        if getattr(child, "type", "") == "plotly_chart":
            found.append(items[i + 1].type if i + 1 < len(items) else None)
        found += plots_and_what_follows(child)
    return found


def test_every_plot_has_a_sentence_under_it() -> None:
    at = open_data()
    assert plots_and_what_follows(at._tree) == []  # the preview tab opens first: a table, no chart
    following = []
    for tab in ("Column types", "Missing values", "Distributions", "Target balance"):
        at.session_state["data_tab"] = tab
        at.run()
        assert not at.exception
        following += plots_and_what_follows(at._tree)
    assert following == ["caption"] * 4  # each tab's chart, and a sentence under it


def test_another_sample_brings_its_target_and_task() -> None:
    at = open_data()
    select(at, "Dataset").set_value("tips").run()
    assert not at.exception
    assert select(at, "Target column").value == "tip" and select(at, "Task").value == "regression"
    assert at.session_state["data_choice"].source == "tips"


def test_changing_the_target_infers_a_new_task_that_can_be_overridden() -> None:
    at = open_data()
    select(at, "Target column").set_value("sepal_length").run()
    assert select(at, "Task").value == "regression"
    assert at.session_state["data_choice"].target == "sepal_length"
    select(at, "Task").set_value("multiclass").run()
    assert at.session_state["data_choice"].task == "multiclass"
    assert any("You chose otherwise" in c.value for c in at.caption)


def test_role_edits_become_overrides() -> None:
    at = open_data()
    editor = at.data_editor[0]
    assert list(editor.value["role"]) == ["numeric"] * 4
    at.session_state["data_roles::iris::species"] = {"edited_rows": {0: {"role": "ignore"}}, "added_rows": [],
                                                     "deleted_rows": []}
    at.run()
    assert not at.exception
    assert at.session_state["data_choice"].roles == {"sepal_length": "ignore"}


def test_a_bad_upload_shows_the_reason_not_a_traceback() -> None:
    at = open_data()
    at.file_uploader[0].set_value(("empty.csv", b"", "text/csv")).run()
    assert not at.exception
    assert any("empty" in shown(e.value) for e in at.error)
    assert select(at, "Dataset").value == "iris"  # nothing changed


def test_an_upload_becomes_the_dataset_and_its_checks_show(engine) -> None:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(n)], "constant": 1,
                          "spend": rng.normal(50, 10, n).round(2), "churn": rng.choice(["yes", "no"], n)})
    at = open_data()
    at.file_uploader[0].set_value(("customers.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not at.error
    assert any("Stored customers.csv" in shown(s.value) for s in at.success)
    assert [r.description for r in engine.catalog.uploads()] == ["uploaded as customers.csv"]
    choice = at.session_state["data_choice"]
    assert choice.target == "churn" and choice.task == "binary" and Path(choice.source).is_file()
    # the id-like and the constant column start ignored: listed as left out, with no advice to ignore them
    assert not at.warning
    left_out = next(e for e in at.expander if e.label.startswith("Left out of training: 2 column"))
    listed = shown(" ".join(m.value for m in left_out.markdown))
    assert "customer_id" in listed and "constant" in listed
