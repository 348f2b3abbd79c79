"""Starting a run from another run's weights (RunConfig.init): warm start, frozen layers, lineage."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from core.config import DataConfig, InitConfig, ModelConfig, RunConfig, TrainConfig
from core.data.catalog import resolve
from core.data.loading import load_dataset
from core.errors import ConfigError
from core.runs.execute import execute_run
from core.runs.warm_start import weight_layers
from core.models import build_model


def _digits_halves(folder: Path) -> tuple[Path, Path]:
    frame = load_dataset(resolve("digits")).sample(frac=1.0, random_state=0).reset_index(drop=True)
    a, b = folder / "digits_a.csv", folder / "digits_b.csv"
    frame.iloc[:900].to_csv(a, index=False)
    frame.iloc[900:1400].to_csv(b, index=False)
    return a, b


def _run(engine, config: RunConfig) -> str:
    run_id = engine.store.create_run(config.to_dict(), model=config.model.kind)
    execute_run(engine.store, engine.catalog, run_id)
    return run_id


def _first_val_loss(engine, run_id: str) -> float:
    rows = [r for r in engine.store.epoch_rows(run_id) if (r["split"], r["name"]) == ("val", "loss")]
    return min(rows, key=lambda r: r["epoch"])["value"]


@pytest.fixture(scope="module")
def digits_parent(tmp_path_factory):
    """A digits MLP trained on one half of the rows, in a workspace of its own."""
    from core.engine import Engine

    home = tmp_path_factory.mktemp("wb-finetune")
    a, b = _digits_halves(home)
    engine = Engine(home)
    config = RunConfig(data=DataConfig(str(a), "label"), model=ModelConfig("mlp", {"hidden_sizes": [64, 32]}),
                       train=TrainConfig(epochs=15, early_stopping=False, device="cpu"))
    parent = _run(engine, config)
    assert engine.store.get(parent).status == "completed"
    yield engine, parent, b
    engine.close()


def test_a_fine_tuned_run_starts_below_a_fresh_one(digits_parent):
    engine, parent, new_data = digits_parent
    base = RunConfig(data=DataConfig(str(new_data), "label"), model=ModelConfig("mlp", {"hidden_sizes": [64, 32]}),
                     train=TrainConfig(epochs=2, early_stopping=False, device="cpu"))
    fresh = _run(engine, base)
    tuned = _run(engine, base.evolve(init={"from_run": parent}))
    assert engine.store.get(tuned).status == "completed", engine.store.get(tuned).status_reason
    assert _first_val_loss(engine, tuned) < 0.5 * _first_val_loss(engine, fresh)
    events = engine.store.get(tuned).summary["events"]
    assert any("started from the weights of run" in e for e in events)
    # the parent's preprocessing is kept: same scaling of every column, not refitted on the new rows
    parent_pre = (engine.store.run_dir(parent) / "preprocessor.json").read_text()
    assert (engine.store.run_dir(tuned) / "preprocessor.json").read_text() == parent_pre


def test_frozen_layers_keep_the_parents_weights(digits_parent):
    engine, parent, new_data = digits_parent
    config = RunConfig(data=DataConfig(str(new_data), "label"), model=ModelConfig("mlp", {"hidden_sizes": [64, 32]}),
                       train=TrainConfig(epochs=2, early_stopping=False, device="cpu"),
                       init=InitConfig(from_run=parent, freeze=2))
    child = _run(engine, config)
    assert engine.store.get(child).status == "completed", engine.store.get(child).status_reason
    old = load_file(str(engine.store.run_dir(parent) / "model.safetensors"))
    new = load_file(str(engine.store.run_dir(child) / "model.safetensors"))
    for key in ("0.weight", "0.bias", "2.weight", "2.bias"):  # the two hidden layers
        assert torch.equal(old[key], new[key]), key
    assert not torch.equal(old["4.weight"], new["4.weight"])  # the output layer trained
    assert any("frozen" in e for e in engine.store.get(child).summary["events"])


def test_freezing_every_layer_or_another_target_is_refused_in_words(digits_parent, tmp_path):
    engine, parent, new_data = digits_parent
    config = RunConfig(data=DataConfig(str(new_data), "label"), model=ModelConfig("mlp", {"hidden_sizes": [64, 32]}),
                       train=TrainConfig(epochs=1, device="cpu"), init=InitConfig(from_run=parent, freeze=3))
    run = _run(engine, config)
    record = engine.store.get(run)
    assert record.status == "failed" and "leaves nothing to train" in record.status_reason
    assert record.summary["error_kind"] == "input"
    # other columns: the parent's are missing
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": range(30), "label": [i % 10 for i in range(30)]}).to_csv(other, index=False)
    run = _run(engine, config.evolve(data={"source": str(other)}, init={"freeze": 0}))
    assert "lacks the column" in engine.store.get(run).status_reason
    # another architecture
    run = _run(engine, config.evolve(model={"params": {"hidden_sizes": [16]}}, init={"freeze": 0}))
    assert "do not fit this model" in engine.store.get(run).status_reason
    # no such parent
    run = _run(engine, config.evolve(init={"from_run": "0000-nope", "freeze": 0}))
    assert "no such run" in engine.store.get(run).status_reason


def test_init_is_validated_and_round_trips_yaml():
    config = RunConfig(data=DataConfig("iris", "species"), init=InitConfig(from_run="abc", freeze=1))
    assert RunConfig.from_yaml(config.to_yaml()) == config
    with pytest.raises(ConfigError, match="init.freeze needs init.from_run"):
        RunConfig(data=DataConfig("iris", "species"), init=InitConfig(freeze=1)).validate()
    with pytest.raises(ConfigError, match="init.weights"):
        RunConfig(data=DataConfig("iris", "species"), init=InitConfig(from_run="a", weights="best")).validate()


def test_weight_layers_group_a_norm_with_its_layer():
    model = build_model("mlp", {"hidden_sizes": [8, 8], "batch_norm": True}, 4, 3)
    groups = weight_layers(model)
    assert [[name for name, _ in g] for g in groups] == [["0", "1"], ["3", "4"], ["6"]]


def test_the_finetune_command(digits_parent, capsys):
    import json

    from workbench.cli import main

    engine, parent, new_data = digits_parent
    home = str(engine.workspace)
    assert main(["finetune", parent, "--data", str(new_data), "--epochs", "1", "--freeze", "1", "--json",
                 "--workspace", home]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["parent"] == parent and result["warm_start"]
    child = engine.store.get(result["run_id"])
    assert child.config["init"] == {"from_run": parent, "weights": "final", "freeze": 1}
    from core.runs.compare import lineage

    ancestors, _ = lineage(engine.store.list_runs(), child.run_id)
    assert [r.run_id for r in ancestors] == [parent]
    # no served predictions yet: said in one line, exit 2
    assert main(["finetune", parent, "--feedback", "--workspace", home]) == 2
    assert "no prediction log" in capsys.readouterr().err
