"""Optimising a run: pruned and int8 variants of a digits MLP, each measured after a round trip through its file."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

from core.errors import ConfigError
from core.lifecycle import latency
from core.lifecycle import prune as pruning
from core.lifecycle import quantize as quant
from core.lifecycle.optimize import OptimizeRequest, optimize_run
from core.lifecycle.tensors import load_tensors, save_tensors
from core.lifecycle.variants import list_variants, sparsity_figure, sparsity_points, tradeoff_table, within
from core.models import build_model
from workbench.cli import main


@pytest.fixture(scope="module", autouse=True)
def _short_latency_runs():
    # a few calls per setting: the tests check the figures' shape, bench-quality timing is not their job
    old = latency.BUDGET_S, latency.REPEATS
    latency.BUDGET_S, latency.REPEATS = 0.02, 20
    yield
    latency.BUDGET_S, latency.REPEATS = old


@pytest.fixture(scope="module")
def optimized(tmp_path_factory):
    """A digits MLP (the default 64, 64 hidden layers) in a workspace of its own."""
    from core.engine import Engine

    home = tmp_path_factory.mktemp("wb-optimize")
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "30", "--device", "cpu",
                 "--name", "digits-mlp", "--quiet", "--workspace", str(home)]) == 0
    engine = Engine(home)
    yield engine, engine.store.get("digits-mlp").run_id, home
    engine.close()


@pytest.fixture(scope="module")
def cli_result(optimized):
    """`workbench optimize RUN --prune 0.5 --finetune-epochs 3 --quantize int8 --json`."""
    import contextlib
    import io

    _, _, home = optimized
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["optimize", "digits-mlp", "--prune", "0.5", "--finetune-epochs", "3", "--quantize", "int8",
                     "--json", "--workspace", str(home)])
    assert code == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _by_id(result):
    return {v["id"]: v for v in result["variants"]}


def test_int8_is_a_third_of_the_size_and_as_accurate(cli_result):
    variants = _by_id(cli_result)
    int8, fp32 = variants["int8-dynamic"], variants["fp32"]
    assert int8["size_ratio"] <= 0.35, int8["size_ratio"]
    assert abs(int8["change"]) <= 0.02
    assert int8["precision"] == "int8" and fp32["metrics"]["accuracy"] > 0.9
    for v in (int8, fp32):
        assert set(v["latency"]) == {"batch_1", "batch_256"}
        assert 0 < v["latency"]["batch_1"]["p50_ms"] <= v["latency"]["batch_1"]["p99_ms"]


def test_half_pruned_and_fine_tuned_keeps_its_accuracy(cli_result):
    pruned = _by_id(cli_result)["prune-global-50"]
    assert pruned["change"] >= -0.02, pruned["change"]
    assert pruned["finetune_epochs"] == 3 and abs(pruned["sparsity"] - 0.5) < 0.01
    assert pruned["size_ratio"] < 0.65  # zeros stored as a bitmask
    combined = _by_id(cli_result)["prune-global-50+int8"]
    assert combined["size_bytes"] < _by_id(cli_result)["int8-dynamic"]["size_bytes"]


def test_the_onnx_runtime_variants(cli_result):
    variants = _by_id(cli_result)
    static, plain = variants["onnx-int8-static"], variants["onnx-fp32"]
    assert static["runtime"] == "onnxruntime" and static["size_bytes"] < plain["size_bytes"]
    assert abs(static["metrics"]["accuracy"] - plain["metrics"]["accuracy"]) <= 0.03
    assert plain["change"] == pytest.approx(0.0, abs=1e-9)  # the same model, exported


def test_variants_are_stored_without_pickle_and_reload(optimized, cli_result):
    engine, run_id, _ = optimized
    run_dir = engine.store.run_dir(run_id)
    weights = run_dir / "variants" / "int8-dynamic" / "weights.safetensors"
    with safe_open(str(weights), "pt") as f:  # a plain safetensors file: int8 values and float scales
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert torch.int8 in dtypes and torch.float32 in dtypes
    assert b"pickle" not in weights.read_bytes()[:200] and weights.read_bytes()[8:9] == b"{"
    listed = list_variants(run_dir)
    assert listed[0].id == "fp32" and {v.id for v in listed} == set(_by_id(cli_result))
    table = tradeoff_table(listed)
    assert {"accuracy", "change", "size_kb", "b1_p50_ms", "b256_p99_ms"} <= set(table.columns)
    fp32 = listed[0]
    assert within(next(v for v in listed if v.id == "int8-dynamic"), fp32, 0.02)


def test_structured_pruning_shrinks_the_mlp(optimized, capsys):
    engine, run_id, home = optimized
    variants = optimize_run(engine.store, engine.catalog, run_id,
                            OptimizeRequest(prune=(0.25, 0.5), method="structured"))
    by_id = {v.id: v for v in variants}
    half = by_id["prune-structured-50"]
    assert half.params["hidden_sizes"] == [32, 32] and half.size_ratio < 0.5
    points = sparsity_points(variants)
    structured = points[points.method == "structured"]
    assert list(structured.sparsity) == [0.0, 0.25, 0.5]
    assert len(sparsity_figure(variants).data) == 2  # global (0 and 0.5) and structured
    # the human table
    assert main(["optimize", run_id, "--quantize", "int8", "--workspace", str(home)]) == 0
    assert "int8 (dynamic, torch)" in capsys.readouterr().out


def test_shrinking_gives_the_masked_networks_outputs():
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden_sizes": [16, 12], "batch_norm": True, "dropout": 0.1}, 6, 3)
    with torch.no_grad():  # batch-norm statistics that are not the identity
        for m in model:
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    kept = pruning.prune_structured(model, 0.5)
    pruning.make_permanent(model)
    model.eval()
    small, params = pruning.shrink_mlp(model, {"hidden_sizes": [16, 12], "batch_norm": True, "dropout": 0.1,
                                               "activation": "relu"})
    assert kept == [8, 6] and params["hidden_sizes"] == [8, 6]
    x = torch.randn(20, 6)
    with torch.no_grad():
        assert torch.allclose(model(x), small(x), atol=1e-6)


def test_tensor_encodings_round_trip(tmp_path):
    ao = quant._ao()
    dense = torch.randn(8, 8)
    sparse = torch.randn(16, 16) * (torch.rand(16, 16) > 0.7)
    q_channel = torch.quantize_per_channel(torch.randn(4, 5), torch.rand(4, dtype=torch.float64) / 10 + 0.01,
                                           torch.zeros(4, dtype=torch.int64), 0, torch.qint8)
    q_tensor = torch.quantize_per_tensor(torch.randn(3, 3), 0.05, 3, torch.qint8)
    path = save_tensors(tmp_path / "w.safetensors", {"a": dense, "b": sparse, "c": q_channel, "d": q_tensor},
                        {"format": "x"})
    state, meta = load_tensors(path)
    assert meta == {"format": "x"} and ao is not None
    assert torch.equal(state["a"], dense) and torch.equal(state["b"], sparse)
    assert torch.equal(state["c"].int_repr(), q_channel.int_repr())
    assert torch.allclose(state["c"].dequantize(), q_channel.dequantize())
    assert state["d"].q_zero_point() == 3 and torch.equal(state["d"].int_repr(), q_tensor.int_repr())
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(Exception, match="damaged or not a Workbench weights file"):
        load_tensors(tmp_path / "bad.safetensors")


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_an_lstm_is_quantised_saved_and_rebuilt(tmp_path):
    torch.manual_seed(0)
    model = _Recurrent().eval()
    qmodel = quant.quantize_dynamic(model)
    path = quant.save_dynamic(qmodel, tmp_path / "lstm.safetensors", {})
    torch.manual_seed(1)
    rebuilt = quant.load_dynamic(_Recurrent(), path)
    x = torch.randn(5, 7, 4)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), qmodel(x), atol=1e-5)
        assert (rebuilt(x) - model(x)).abs().max() < 0.05


def test_bad_requests_are_refused_in_words(optimized, capsys):
    engine, run_id, home = optimized
    with pytest.raises(ConfigError, match="between 0 and 1"):
        OptimizeRequest(prune=(1.5,)).validate()
    with pytest.raises(ConfigError, match="say what to do"):
        OptimizeRequest().validate()
    with pytest.raises(ConfigError, match="no hidden layer"):
        pruning.prune_structured(build_model("logistic", {}, 4, 3), 0.5)
    assert main(["optimize", run_id, "--prune", "2", "--workspace", str(home)]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["optimize", "no-such-run", "--prune", "0.5", "--workspace", str(home)]) == 2


def test_a_variant_that_does_not_apply_is_skipped_in_words(tmp_path):
    from core.engine import Engine
    from core.lifecycle.optimize import skipped_steps

    home = tmp_path / "logistic"
    assert main(["train", "--data", "iris", "--model", "logistic", "--epochs", "3", "--device", "cpu", "--quiet",
                 "--name", "iris-logistic", "--workspace", str(home)]) == 0
    engine = Engine(home)
    try:
        run_id = engine.store.get("iris-logistic").run_id
        variants = optimize_run(engine.store, engine.catalog, run_id,
                                OptimizeRequest(prune=(0.5,), method="structured", quantize="int8"))
        skipped = skipped_steps(engine.store.run_dir(run_id))
    finally:
        engine.close()
    assert [s["variant"] for s in skipped] == ["50% pruned (structured)"]
    assert "no hidden layer" in skipped[0]["why"]
    assert {"fp32", "int8-dynamic", "onnx-fp32", "onnx-int8-static"} <= {v.id for v in variants}


def test_global_pruning_covers_recurrent_weights():
    torch.manual_seed(0)
    model = _Recurrent().eval()
    pruning.prune_global(model, 0.5)
    pruning.make_permanent(model)
    assert abs(pruning.sparsity_of(model) - 0.5) < 0.01
    assert float((model.lstm.weight_hh_l0 == 0).float().mean()) > 0.2
    assert set(model.state_dict()) == set(_Recurrent().state_dict())  # plain names again, no masks
    assert model(torch.randn(3, 5, 4)).shape == (3, 2)
