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


def test_a_reload_brings_back_the_sessions_runs_and_choice(tmp_path) -> None:
    first: dict = {}
    url: dict = {}
    token = state.bind_session(first, url, tmp_path)
    assert url == {"s": token} and len(token) == 16
    state.remember_run(first, "r1")
    state.select_runs(first, ["r1"])
    state.set_choice(first, state.DataChoice(source="wine", target="cultivar", roles={"ash": "ignore"}))
    first.setdefault(state.CV_PARENTS, []).append("p1")
    state.save_session(first, tmp_path)
    first[state.CV_PARENTS].append("p2")  # a list grown in place is still a change
    state.save_session(first, tmp_path)

    reloaded: dict = {}
    assert state.bind_session(reloaded, dict(url), tmp_path) == token  # the same URL, a new session
    assert state.my_runs(reloaded) == ["r1"] and reloaded["selected_runs"] == ["r1"]
    assert reloaded[state.CV_PARENTS] == ["p1", "p2"]
    assert state.get_choice(reloaded) == state.get_choice(first)

    other: dict = {}
    assert state.bind_session(other, {}, tmp_path) != token and state.my_runs(other) == []  # a new tab
    forged: dict = {}
    assert state.bind_session(forged, {"s": "../../etc/passwd"}, tmp_path) != "../../etc/passwd"
    url.clear()  # a page change dropped the query string: the token goes back into the URL
    state.bind_session(first, url, tmp_path)
    assert url == {"s": token}


def test_reset_forgets_the_forms_widgets_but_what_it_keeps(tmp_path) -> None:
    session: dict = {"tf_epochs": 12, "tf_sample": "wine", "other": 1}
    state.save_widgets(session, "tf_")
    state.forget_widgets(session, "tf_", keep=("tf_sample",))
    assert session["tf_sample"] == "wine" and "tf_epochs" not in session and session["other"] == 1
    state.restore_widgets(session, "tf_")
    assert "tf_epochs" not in session
