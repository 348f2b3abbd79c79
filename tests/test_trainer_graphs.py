"""The CUDA-graph train step: when it is used, and that it trains exactly what the eager step trains.

CPU tests check the decision, the undoing of the warm-up and that CPU training did not move; the
`gpu` tests compare graphed and eager runs of the same seeded model (run them through the device tool).
"""
from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from torch import nn

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig
from core.models import build_model
from core.training import optim as optim_factory, trainer as trainer_module
from core.training.graphed import GraphedStep, graph_eligibility, graphs_enabled, preserved
from core.training.trainer import Trainer

N_FEATURES, N_CLASSES = 8, 3


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    g = np.random.default_rng(0)
    X = g.standard_normal((680, N_FEATURES)).astype(np.float32)
    W = g.standard_normal((N_FEATURES, N_CLASSES)).astype(np.float32)
    y = (X @ W + 0.3 * g.standard_normal((680, N_CLASSES))).argmax(1).astype(np.int64)
    # 520 training rows: 8 full batches of 64 and a last one of 8
    return {"X": X[:520], "y": y[:520], "X_val": X[520:], "y_val": y[520:]}


def run_config(device: str = "cuda", optim: str = "adam", schedule: str = "constant", *, model: dict | None = None,
               l1: float = 0.0, weight_decay: float = 0.0, **train: Any) -> RunConfig:
    train = {"epochs": 3, "batch_size": 64, "early_stopping": False, "drop_last": True, **train}
    return RunConfig(data=DataConfig("synthetic", "y"), model=ModelConfig("mlp", model or {"hidden_sizes": [32, 16]}),
                     optim=OptimConfig(optim, lr=0.01, l1=l1, weight_decay=weight_decay),
                     schedule=ScheduleConfig(schedule, step_size=1), train=TrainConfig(device=device, **train))


def fit(config: RunConfig, data: dict[str, np.ndarray], **trainer_kwargs: Any) -> Trainer:
    torch.manual_seed(config.train.seed)
    model = build_model("mlp", dict(config.model.params), N_FEATURES, N_CLASSES)
    trainer = Trainer(config, "multiclass", **trainer_kwargs)
    return trainer.fit(model, data["X"], data["y"], data["X_val"], data["y_val"])


def assert_same_training(a: Trainer, b: Trainer, rtol: float, atol: float) -> None:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    assert len(a.history_) == len(b.history_)
    for ra, rb in zip(a.history_, b.history_):
        for key in ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "lr", "batch_size"):
            assert ra[key] == pytest.approx(rb[key], rel=max(rtol, 1e-6) * 10, abs=atol * 10), key


def oom_on_third_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The third graph replay of the run raises CUDA's out-of-memory error; the others replay."""
    replays = {"n": 0}
    original = GraphedStep.replay

    def flaky(self: GraphedStep, idx: torch.Tensor) -> None:
        replays["n"] += 1
        if replays["n"] == 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (test)")
        original(self, idx)
    monkeypatch.setattr(GraphedStep, "replay", flaky)


class Doubling(nn.Module):  # a layer the graph knows nothing about
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


# --- CPU: the decision -------------------------------------------------------------------------
CUDA = torch.device("cuda")  # a device object needs no GPU; eligibility never touches it


@pytest.mark.parametrize("changes, device, ok, why", [
    ({}, CUDA, True, "one CUDA graph"),
    ({"precision": "bf16"}, CUDA, True, "one CUDA graph"),
    ({"optim": "adamw", "schedule": "cosine"}, CUDA, True, "one CUDA graph"),
    ({"optim": "sgd", "schedule": "step"}, CUDA, True, "one CUDA graph"),
    ({"optim": "rmsprop", "schedule": "plateau"}, CUDA, True, "one CUDA graph"),
    ({"grad_clip": 1.0, "l1": 1e-4, "drop_last": False}, CUDA, True, "one CUDA graph"),
    ({"model": {"hidden_sizes": [16], "batch_norm": True, "dropout": 0.2}}, CUDA, True, "one CUDA graph"),
    ({}, torch.device("cpu"), False, "need a CUDA device"),
    ({"precision": "fp16"}, CUDA, False, "GradScaler"),
    ({"schedule": "onecycle"}, CUDA, False, "one-cycle"),
])
def test_eligibility(changes: dict, device: torch.device, ok: bool, why: str) -> None:
    config = run_config(**changes)
    model = build_model("mlp", dict(config.model.params), N_FEATURES, N_CLASSES)
    decided, reason = graph_eligibility(config, device, model)
    assert decided is ok and why in reason


def test_eligibility_refuses_unknown_layers_and_host_side_batchnorm() -> None:
    config = run_config()
    ok, reason = graph_eligibility(config, CUDA, nn.Sequential(nn.Linear(N_FEATURES, 4), Doubling()))
    assert not ok and "Doubling" in reason
    host_side_bn = nn.Sequential(nn.Linear(N_FEATURES, 4), nn.BatchNorm1d(4, momentum=None))
    ok, reason = graph_eligibility(config, CUDA, host_side_bn)
    assert not ok and "momentum=None" in reason
    cnn = build_model("cnn", {}, 64, N_CLASSES, image_shape=(1, 8, 8))
    assert graph_eligibility(config, CUDA, cnn)[0]


def test_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_CUDA_GRAPHS", raising=False)
    assert graphs_enabled(None) and not graphs_enabled(False)
    monkeypatch.setenv("WORKBENCH_CUDA_GRAPHS", "0")
    assert not graphs_enabled(None) and graphs_enabled(True)


# --- CPU: training there did not move ------------------------------------------------------------
def reference_fit(config: RunConfig, data: dict[str, np.ndarray]) -> nn.Module:
    """The resident eager loop, written out: what the trainer did on the CPU before graphs existed."""
    cfg = config.train
    torch.manual_seed(cfg.seed)
    model = build_model("mlp", dict(config.model.params), N_FEATURES, N_CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=config.optim.lr, foreach=True)
    generator = torch.Generator().manual_seed(cfg.seed)
    X, y = torch.as_tensor(data["X"]), torch.as_tensor(data["y"])
    bs, loss_fn = cfg.batch_size, nn.CrossEntropyLoss()
    for _ in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(X), generator=generator)
        for step in range(len(X) // bs if cfg.drop_last else -(-len(X) // bs)):
            idx = perm[step * bs:(step + 1) * bs]
            loss = loss_fn(model(X[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


@pytest.mark.parametrize("drop_last", [True, False])
def test_cpu_training_is_the_eager_loop_unchanged(data: dict[str, np.ndarray], drop_last: bool) -> None:
    config = run_config("cpu", drop_last=drop_last)
    trainer = fit(config, data)
    assert trainer.step_mode_ == "eager" and "CUDA device" in trainer.step_mode_reason_
    assert trainer.graph_ is None and not any("graph" in e for e in trainer.events_)
    expected = reference_fit(config, data).state_dict()
    for name, value in trainer.model_.state_dict().items():
        assert torch.equal(value, expected[name]), name


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_warm_up_is_undone(optimizer: str) -> None:
    """What the capture's warm-up trains is put back: the next step is the one a fresh run takes,
    bit for bit (Adam's moments and step, SGD's momentum, BatchNorm's statistics, dropout's RNG)."""
    config = run_config("cpu", optimizer, model={"hidden_sizes": [16], "batch_norm": True, "dropout": 0.3})
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(32, N_FEATURES, generator=g), torch.randint(0, N_CLASSES, (32,), generator=g))
               for _ in range(5)]

    def setup() -> tuple[nn.Module, torch.optim.Optimizer, torch.Tensor]:
        torch.manual_seed(0)
        model = build_model("mlp", dict(config.model.params), N_FEATURES, N_CLASSES).train()
        return model, optim_factory.build_optimizer(config.optim, model, torch.device("cpu")), torch.zeros(())

    def step(model: nn.Module, opt: torch.optim.Optimizer, total: torch.Tensor, xb: torch.Tensor,
             yb: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()

    fresh, fresh_opt, fresh_total = setup()
    torch.manual_seed(7)
    for xb, yb in batches[3:]:
        step(fresh, fresh_opt, fresh_total, xb, yb)

    warmed, warmed_opt, warmed_total = setup()
    torch.manual_seed(7)
    with preserved(warmed, warmed_opt, [warmed_total], torch.device("cpu")):
        for xb, yb in batches[:3]:
            step(warmed, warmed_opt, warmed_total, xb, yb)
    for xb, yb in batches[3:]:
        step(warmed, warmed_opt, warmed_total, xb, yb)

    for name, value in warmed.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[name]), name
    assert torch.equal(warmed_total, fresh_total)
    for p_warm, p_fresh in zip(warmed.parameters(), fresh.parameters()):
        for key, value in warmed_opt.state[p_warm].items():
            assert torch.equal(value, fresh_opt.state[p_fresh][key]), key


def test_warm_up_is_undone_when_it_fails() -> None:
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden_sizes": [8]}, N_FEATURES, N_CLASSES)
    opt = optim_factory.build_optimizer(run_config("cpu").optim, model, torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="capture refused"):
        with preserved(model, opt, [], torch.device("cpu")):
            nn.functional.cross_entropy(model(torch.randn(4, N_FEATURES)), torch.tensor([0, 1, 2, 0])).backward()
            opt.step()
            raise RuntimeError("capture refused")
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


# --- CPU: the trainer's use of the graph, with a stand-in for CUDA ------------------------------------
class StandInGraph:
    """Replays by re-running the captured step on the rows of the static index, with the lr the real
    graph reads (its device tensor). Checks which batches replay, lr following, re-capture and the
    fallback; not CUDA's own semantics, which only the gpu tests below can."""

    capturing: "StandInGraph | None" = None

    def __init__(self) -> None:
        self.step: Any = None
        self.owner: GraphedStep | None = None

    def replay(self) -> None:
        owner = self.owner
        groups = owner.optimizer.param_groups
        floats = [g["lr"] for g in groups]
        for group, lr in zip(groups, owner.lrs):
            group["lr"] = float(lr)
        try:
            self.step(self.X[owner.static_idx], self.y[owner.static_idx])
        finally:
            for group, value in zip(groups, floats):
                group["lr"] = value


@contextlib.contextmanager
def stand_in_capture(graph: StandInGraph, **kwargs: Any) -> Iterator[None]:
    StandInGraph.capturing = graph
    try:
        yield
    finally:
        StandInGraph.capturing = None


@pytest.fixture
def stand_in_cuda(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """CPU runs take the graph path; returns the batch sizes captured."""
    captured: list[int] = []

    def capture(step: Any, X: torch.Tensor, y: torch.Tensor, bs: int, *args: Any, **kwargs: Any) -> GraphedStep:
        def recording(xb: torch.Tensor, yb: torch.Tensor) -> None:
            if StandInGraph.capturing is not None:
                StandInGraph.capturing.step = step
            step(xb, yb)
        graph_step = real_capture(recording, X, y, bs, *args, **kwargs)
        graph_step.graph.owner, graph_step.graph.X, graph_step.graph.y = graph_step, X, y
        captured.append(bs)
        return graph_step

    def single_tensor_optimizer(cfg: Any, model: nn.Module, device: torch.device, capturable: bool = False,
                                name: str | None = None) -> Any:
        opt = real_build(cfg, model, device, name=name)  # CPU optimizers cannot be capturable; single-tensor ones take a tensor lr
        for group in opt.param_groups:
            group["foreach"] = False
        return opt

    real_capture, real_build = trainer_module.capture_step, optim_factory.build_optimizer
    monkeypatch.setattr(trainer_module, "capture_step", capture)
    monkeypatch.setattr(optim_factory, "build_optimizer", single_tensor_optimizer)
    monkeypatch.setattr(trainer_module, "graph_eligibility",
                        lambda config, device, model: graph_eligibility(config, CUDA, model))
    monkeypatch.setattr(torch.cuda, "CUDAGraph", StandInGraph)
    monkeypatch.setattr(torch.cuda, "graph", stand_in_capture)
    monkeypatch.setattr(torch.cuda, "Stream", lambda *a, **k: SimpleNamespace(wait_stream=lambda other: None))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a: SimpleNamespace(wait_stream=lambda other: None))
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "set_stream", lambda s: None)
    return captured


@pytest.mark.parametrize("changes", [
    {},
    {"drop_last": False, "grad_clip": 0.5, "l1": 1e-4, "model": {"hidden_sizes": [32, 16], "batch_norm": True}},
    {"optim": "sgd", "schedule": "step", "epochs": 4},
    {"optim": "rmsprop", "schedule": "plateau", "epochs": 4},
    {"drop_last": False, "model": {"hidden_sizes": [16], "batch_norm": True, "dropout": 0.3}},
])
def test_trainer_replays_full_batches_and_steps_the_rest(data: dict[str, np.ndarray], stand_in_cuda: list[int],
                                                         changes: dict) -> None:
    config = run_config("cpu", **changes)
    with_graph, without = fit(config, data, cuda_graphs=True), fit(config, data, cuda_graphs=False)
    assert with_graph.step_mode_ == "cuda-graph" and without.step_mode_ == "eager"
    assert stand_in_cuda == [64]  # captured once, before the first epoch
    assert_same_training(with_graph, without, rtol=0, atol=0)


@pytest.mark.parametrize("changes", [{}, {"drop_last": False, "optim": "sgd"}])
def test_streamed_batches_replay_through_the_graphs_buffer(data: dict[str, np.ndarray], stand_in_cuda: list[int],
                                                           changes: dict) -> None:
    config = run_config("cpu", **changes)
    streamed, resident = fit(config, data, cuda_graphs=True, streaming=True), fit(config, data, cuda_graphs=False)
    assert streamed.step_mode_ == "streaming-cuda-graph" and resident.step_mode_ == "eager"
    assert stand_in_cuda == [64]
    assert_same_training(streamed, resident, rtol=0, atol=0)


def test_trainer_feeds_the_per_step_schedule_to_the_graph(data: dict[str, np.ndarray],
                                                          stand_in_cuda: list[int]) -> None:
    config = run_config("cpu", schedule="cosine", epochs=4, drop_last=False)
    with_graph, without = fit(config, data, cuda_graphs=True), fit(config, data, cuda_graphs=False)
    assert [r["lr"] for r in with_graph.history_] == [r["lr"] for r in without.history_]
    # the device lr moved with the schedule (it holds the lr of the last replay, before the short batch)
    assert with_graph.graph_.lrs and 0 < float(with_graph.graph_.lrs[0]) < 0.01 * config.optim.lr
    assert_same_training(with_graph, without, rtol=1e-4, atol=1e-5)  # float32 lr in the graph


def test_trainer_recaptures_after_out_of_memory(data: dict[str, np.ndarray], stand_in_cuda: list[int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    oom_on_third_replay(monkeypatch)
    trainer = fit(run_config("cpu"), data, cuda_graphs=True)
    assert trainer.events_ == ["out of memory at batch size 64: retrying the epoch with batch size 32"]
    assert stand_in_cuda == [64, 32] and trainer.graph_.batch_size == 32
    assert [r["batch_size"] for r in trainer.history_] == [32.0] * 3


def test_trainer_falls_back_when_capture_fails(data: dict[str, np.ndarray], stand_in_cuda: list[int],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "graph", RefusedCapture)
    config = run_config("cpu", drop_last=False)
    trainer, without = fit(config, data, cuda_graphs=True), fit(config, data, cuda_graphs=False)
    assert trainer.step_mode_ == "eager" and trainer.graph_ is None
    assert trainer.events_ == ["CUDA graph capture failed (RuntimeError: capture refused (test)): training without it"]
    assert_same_training(trainer, without, rtol=0, atol=0)  # the warm-up was undone


class RefusedCapture:
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __enter__(self) -> None:
        raise RuntimeError("capture refused (test)")

    def __exit__(self, *args: Any) -> None: ...


# --- GPU: graphed and eager train the same ---------------------------------------------------------
gpu = pytest.mark.gpu


def graphed_and_eager(config: RunConfig, data: dict[str, np.ndarray]) -> tuple[Trainer, Trainer]:
    with_graph, without = fit(config, data, cuda_graphs=True), fit(config, data, cuda_graphs=False)
    assert with_graph.step_mode_ == "cuda-graph", with_graph.events_
    assert without.step_mode_ == "eager" and without.step_mode_reason_ == "CUDA graphs turned off"
    assert with_graph.graph_ is not None and with_graph.graph_.batch_size == config.train.batch_size
    return with_graph, without


@gpu
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_graphed_matches_eager(data: dict[str, np.ndarray], optimizer: str) -> None:
    with_graph, without = graphed_and_eager(run_config(optim=optimizer, weight_decay=1e-4), data)
    assert_same_training(with_graph, without, rtol=1e-5, atol=1e-6)


@gpu
def test_partial_last_batch_steps_eagerly_with_the_same_optimizer(data: dict[str, np.ndarray]) -> None:
    config = run_config(drop_last=False, grad_clip=0.5, l1=1e-4,
                        model={"hidden_sizes": [32, 16], "batch_norm": True})
    with_graph, without = graphed_and_eager(config, data)
    assert with_graph.steps_per_epoch_ == 9  # 8 replays and one short eager step an epoch
    assert_same_training(with_graph, without, rtol=1e-5, atol=1e-6)


@gpu
@pytest.mark.parametrize("schedule", ["cosine", "step", "plateau"])
def test_schedules_move_the_graphs_lr(data: dict[str, np.ndarray], schedule: str) -> None:
    config = run_config(schedule=schedule, epochs=4, drop_last=False)
    with_graph, without = graphed_and_eager(config, data)
    assert [r["lr"] for r in with_graph.history_] == [r["lr"] for r in without.history_]
    if schedule != "plateau":
        assert with_graph.history_[-1]["lr"] < config.optim.lr
    # the graph reads the lr as float32 from the device, eager passes a double: rounding apart
    assert_same_training(with_graph, without, rtol=1e-4, atol=1e-5)


@gpu
def test_bf16_graphed_matches_eager(data: dict[str, np.ndarray]) -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    with_graph, without = graphed_and_eager(run_config(precision="bf16"), data)
    assert_same_training(with_graph, without, rtol=1e-3, atol=1e-4)


@gpu
def test_fp16_trains_eagerly(data: dict[str, np.ndarray]) -> None:
    trainer = fit(run_config(precision="fp16"), data)
    assert trainer.step_mode_ == "eager" and "GradScaler" in trainer.step_mode_reason_


@gpu
def test_dropout_and_batchnorm_train_in_the_graph(data: dict[str, np.ndarray]) -> None:
    config = run_config(epochs=8, model={"hidden_sizes": [64], "batch_norm": True, "dropout": 0.2})
    trainer = fit(config, data, cuda_graphs=True)
    assert trainer.step_mode_ == "cuda-graph"
    losses = [r["train/loss"] for r in trainer.history_]
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert trainer.history_[-1]["val/accuracy"] > 0.7
    bn = trainer.model_[1]
    assert isinstance(bn, nn.BatchNorm1d) and int(bn.num_batches_tracked) == 8 * 8  # replays count, warm-up not


@gpu
@pytest.mark.parametrize("failure", ["refused", "host sync inside the capture"])
def test_capture_failure_trains_eagerly_as_if_nothing_happened(data: dict[str, np.ndarray],
                                                               monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    config = run_config(drop_last=False)
    without = fit(config, data, cuda_graphs=False)
    if failure == "refused":
        monkeypatch.setattr(torch.cuda, "graph", RefusedCapture)
    else:
        original = Trainer._train_step

        def syncing(self: Trainer, xb: torch.Tensor, yb: torch.Tensor, capturing: bool = False) -> None:
            if capturing:
                xb.sum().item()  # a host read: not allowed while a stream captures
            original(self, xb, yb, capturing)
        monkeypatch.setattr(Trainer, "_train_step", syncing)
    trainer = fit(config, data, cuda_graphs=True)
    assert trainer.step_mode_ == "eager" and trainer.graph_ is None
    assert any(e.startswith("CUDA graph capture failed") and e.endswith("training without it")
               for e in trainer.events_), trainer.events_
    assert torch.cuda.current_stream() == torch.cuda.default_stream()
    # the warm-up's three steps were undone: the run is the eager run
    assert_same_training(trainer, without, rtol=1e-6, atol=1e-7)


@gpu
def test_out_of_memory_in_an_epoch_recaptures_at_the_smaller_batch(data: dict[str, np.ndarray],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    oom_on_third_replay(monkeypatch)
    trainer = fit(run_config(), data, cuda_graphs=True)
    assert "out of memory at batch size 64: retrying the epoch with batch size 32" in trainer.events_
    assert trainer.step_mode_ == "cuda-graph" and trainer.graph_.batch_size == 32
    assert [r["batch_size"] for r in trainer.history_] == [32.0] * 3
    assert np.isfinite(trainer.history_[-1]["train/loss"])
