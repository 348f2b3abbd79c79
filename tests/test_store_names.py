"""Two runs never share a name: a name asked for again gets ' (2)', automatic names skip taken ones."""
from __future__ import annotations

from core.runs.store import RunStore


def test_names_are_made_unique_in_words(tmp_path) -> None:
    store = RunStore(tmp_path)
    first = store.create_run({}, name="baseline", model="mlp", dataset="iris")
    assert store.unique_name("baseline") == "baseline (2)" and store.unique_name(" fresh ") == "fresh"
    second = store.create_run({}, name="baseline ", model="mlp", dataset="iris")
    third = store.create_run({}, name="baseline", model="mlp", dataset="iris")
    assert [store.get(i).name for i in (first, second, third)] == ["baseline", "baseline (2)", "baseline (3)"]


def test_automatic_names_skip_a_name_that_is_taken(tmp_path) -> None:
    store = RunStore(tmp_path)
    a = store.create_run({}, model="mlp", dataset="iris")
    b = store.create_run({}, model="mlp", dataset="iris")
    store.delete(a)  # the count drops to one, and mlp-iris-2 is taken
    c = store.create_run({}, model="mlp", dataset="iris")
    assert (store.get(b).name, store.get(c).name) == ("mlp-iris-2", "mlp-iris-3")
