"""Importance over time: snapshots at the expected epochs, the last one ranks as the full explanation does."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.explain import ShapParams, explain_shap
from core.explain.over_time import importance_history
from core.runs.execute import execute_run
from core.runs.insight import LIVE_DIR, snapshot_every


def one_feature_matters(path: Path, n: int = 400) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame(X, columns=["noise_a", "signal", "noise_b", "noise_c"])
    frame["label"] = np.where(frame.signal > 0, "yes", "no")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    workspace = tmp_path_factory.mktemp("over-time")
    csv = one_feature_matters(workspace / "toy.csv")
    engine = Engine(workspace)
    config = RunConfig(data=DataConfig(source=str(csv), target="label"),
                       model=ModelConfig(kind="mlp", params={"hidden_sizes": [16]}), optim=OptimConfig(lr=0.03),
                       train=TrainConfig(epochs=10, seed=0, device="cpu", early_stopping=False, shap_every=2))
    run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="toy", name="toy")
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    yield engine, run_id
    engine.close()


def test_snapshots_at_the_expected_epochs(trained) -> None:
    engine, run_id = trained
    history = importance_history(engine.store, run_id)
    assert history is not None
    assert history.epochs == [2, 4, 6, 8, 10]
    assert [s["final"] for s in history.snapshots] == [False] * 4 + [True]
    assert history.columns == ["noise_a", "signal", "noise_b", "noise_c"]
    frame = history.frame()
    signal = frame[frame.column == "signal"]
    assert signal.importance.iloc[-1] > signal.importance.iloc[0]  # it grows as the model learns it
    assert signal["rank"].iloc[-1] == 1
    assert history.seconds < 0.25 * history.fit_seconds + 0.25
    assert "snapshots" in history.cost_text()
    assert (engine.store.run_dir(run_id) / LIVE_DIR / "model.safetensors").is_file()


def test_last_snapshot_ranks_as_the_full_explanation(trained) -> None:
    engine, run_id = trained
    final = importance_history(engine.store, run_id).final()
    full = explain_shap(engine.store, engine.catalog, run_id, params=ShapParams()).importances()
    assert list(final)[0] == list(full)[0] == "signal"
    from scipy.stats import spearmanr
    shared = list(full)
    assert spearmanr([final[c] for c in shared], [full[c] for c in shared]).statistic > 0.3
    assert final["signal"] > 3 * max(v for c, v in final.items() if c != "signal")


def test_every_defaults_to_a_fifth_and_zero_is_off(tmp_path: Path) -> None:
    base = RunConfig(data=DataConfig(source="iris", target="species"), train=TrainConfig(epochs=30))
    assert snapshot_every(base) == 6
    assert snapshot_every(base.evolve(train={"epochs": 3})) == 1
    assert snapshot_every(base.evolve(train={"shap_every": 0})) == 0
    from safetensors.torch import load_file

    engine = Engine(tmp_path)
    try:
        weights = {}
        for every in (0, 1):  # dropout draws from torch's generator: the snapshots must not move it
            config = base.evolve(train={"epochs": 2, "shap_every": every, "device": "cpu"},
                                 model={"kind": "mlp", "params": {"dropout": 0.2}})
            run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="iris", name=f"every-{every}")
            assert execute_run(engine.store, engine.catalog, run_id) == "completed"
            assert (importance_history(engine.store, run_id) is None) == (every == 0)
            weights[every] = load_file(str(engine.store.run_dir(run_id) / "model.safetensors"))
        assert all(np.array_equal(weights[0][k].numpy(), weights[1][k].numpy()) for k in weights[0])
    finally:
        engine.close()


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_snapshots_leave_a_cuda_run_unchanged(tmp_path: Path, precision: str) -> None:
    """On a GPU (CUDA graphs on, mixed precision too) the snapshots change no weight and still rank the signal first."""
    from safetensors.torch import load_file

    csv = one_feature_matters(tmp_path / "toy.csv")
    engine = Engine(tmp_path)
    try:
        weights = {}
        for every in (0, 2):
            config = RunConfig(data=DataConfig(source=str(csv), target="label"),
                               model=ModelConfig(kind="mlp", params={"hidden_sizes": [16], "dropout": 0.1}),
                               optim=OptimConfig(lr=0.03),
                               train=TrainConfig(epochs=6, seed=0, device="cuda", precision=precision,
                                                 early_stopping=False, shap_every=every, drop_last=True))
            run_id = engine.store.create_run(config.to_dict(), model="mlp", dataset="toy")
            assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
            weights[every] = load_file(str(engine.store.run_dir(run_id) / "model.safetensors"))
            if every:
                history = importance_history(engine.store, run_id)
                assert history.epochs == [2, 4, 6] and list(history.final())[0] == "signal"
        # a perturbed random stream (other dropout masks) would move the weights by ~1e-2; cuBLAS may differ by ulps
        for k in weights[0]:
            np.testing.assert_allclose(weights[0][k].float().numpy(), weights[2][k].float().numpy(), rtol=1e-4, atol=1e-5)
    finally:
        engine.close()
