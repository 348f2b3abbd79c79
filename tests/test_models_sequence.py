"""The sequence models: shapes, which steps they read, cuDNN-ready layers, and that they learn."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.models import build_model, model_spec, resolve_params
from core.models.sequence import RecurrentEncoder, recurrent_layers
from core.vocab import MODEL_KINDS, RECURRENT_KINDS, SEQUENCE_KINDS, models_for_task


@pytest.fixture(autouse=True)
def one_thread():
    # tiny recurrent steps on 2 busy cores: two threads hand off each step and run ~15x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
@pytest.mark.parametrize("n_out", [1, 4])
def test_shapes_for_any_window_length(kind, n_out):
    torch.manual_seed(0)
    model = build_model(kind, {}, 3, n_out).eval()
    for steps in (1, 7, 30):  # the window is the data's, not the model's
        with torch.no_grad():
            y = model(torch.randn(5, steps, 3))
        assert y.shape == (5, n_out) and torch.isfinite(y).all()


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_recurrent_spec_and_layers_follow_params(kind):
    assert [p.name for p in model_spec(kind)] == ["hidden_size", "num_layers", "bidirectional", "dropout"]
    model = build_model(kind, {"hidden_size": 8, "num_layers": 2, "bidirectional": True, "dropout": 0.2}, 3, 1)
    (rnn,) = recurrent_layers(model)
    assert type(rnn) is {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
    assert (rnn.hidden_size, rnn.num_layers, rnn.bidirectional, rnn.dropout, rnn.batch_first) == (8, 2, True, 0.2, True)
    assert model[-1].in_features == 16  # both directions' states


def test_bidirectional_reads_both_ends_and_forward_only_the_past():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 1)
    later = x.clone()
    later[:, 0] += 5.0  # change the oldest step only
    forward = RecurrentEncoder("gru", 1, 4).eval()
    both = RecurrentEncoder("gru", 1, 4, bidirectional=True).eval()
    with torch.no_grad():
        # the backward half of a bidirectional state has read the oldest step last, so it moves more
        f_change = (forward(x) - forward(later)).abs().sum()
        b_change = (both(x)[:, 4:] - both(later)[:, 4:]).abs().sum()
    assert b_change > f_change > 0


def test_cnn1d_keeps_the_steps_so_the_last_one_is_the_latest():
    model = build_model("cnn1d", {"channels": [4], "kernel_size": 3, "batch_norm": False, "dropout": 0.0}, 2, 1)
    conv = [m for m in model if isinstance(m, nn.Conv1d)][0]
    assert conv.padding == (1,) and conv.in_channels == 2
    assert resolve_params("cnn1d", {"channels": "8 16", "kernel_size": "7"})["channels"] == [8, 16]


def test_models_for_sequences_are_only_the_sequence_kinds():
    assert models_for_task("regression", "sequence") == list(SEQUENCE_KINDS)
    assert not set(SEQUENCE_KINDS) & set(models_for_task("regression", "table", has_image_shape=True))
    assert all(MODEL_KINDS[k].data_kinds == ("sequence",) for k in SEQUENCE_KINDS)


@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
def test_each_learns_which_of_two_shapes_a_sequence_has(kind):
    torch.manual_seed(0)
    t = torch.linspace(0, 6.28, 16)
    up, down = torch.sin(t), -torch.sin(t)
    X = torch.stack([up if i % 2 else down for i in range(64)])[:, :, None] + 0.1 * torch.randn(64, 16, 1)
    y = torch.tensor([float(i % 2) for i in range(64)])[:, None]
    model = build_model(kind, {"hidden_size": 16} if kind != "cnn1d" else {"channels": [8]}, 1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(X), y)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert ((model(X) > 0).float() == y).float().mean() == 1.0


@pytest.mark.gpu
@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_recurrent_layers_run_cudnn_on_a_gpu(kind):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    assert torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
    model = build_model(kind, {"hidden_size": 32, "num_layers": 2}, 4, 1).cuda()
    x = torch.randn(64, 24, 4, device="cuda")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        model(x).sum().backward()
        torch.cuda.synchronize()
    names = " ".join(e.key.lower() for e in prof.key_averages())
    assert "cudnn" in names or "rnn" in names, names[:500]
    # the fused path: torch's cuDNN RNN op, which keeps its weights in one flat buffer
    assert recurrent_layers(model)[0]._flat_weights[0].is_cuda
