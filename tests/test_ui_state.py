"""Session choices as plain functions over a dict (st.session_state behaves like one)."""
from __future__ import annotations

from workbench.ui import state


def test_choice_round_trip_and_default() -> None:
    session: dict = {}
    choice, chosen = state.choice_or_default(session)
    assert (choice.source, choice.target, chosen) == ("iris", "species", False)
    state.set_choice(session, state.DataChoice(source="wine", target="cultivar", task="multiclass",
                                               roles={"ash": "ignore"}, name="wine"))
    choice, chosen = state.choice_or_default(session)
    assert chosen and choice.target == "cultivar" and choice.roles == {"ash": "ignore"}
    session[state.DATA_CHOICE] = choice.to_dict()  # a plain dict works too
    assert state.get_choice(session) == choice


def test_remembered_runs_keep_order_without_duplicates() -> None:
    session: dict = {}
    for run_id in ("a", "b", "a", "c"):
        state.remember_run(session, run_id)
    assert state.my_runs(session) == ["a", "b", "c"]
    state.select_runs(session, ["b"])
    assert session["selected_runs"] == ["b"]


def test_widget_values_survive_a_page_change() -> None:
    session: dict = {"tf_epochs": 12, "tf_lr": 0.01, "other": 1}
    state.save_widgets(session, "tf_")
    del session["tf_epochs"], session["tf_lr"]  # what Streamlit does when another page is drawn
    session["tf_lr"] = 0.5  # a value already set wins over the saved one
    state.restore_widgets(session, "tf_")
    assert session["tf_epochs"] == 12 and session["tf_lr"] == 0.5
