"""CUDA checks: skipped without a GPU (run them through the device tool)."""
from __future__ import annotations

import json

import pytest

from workbench.cli import main

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_cli_trains_on_cuda(capsys, precision):
    code = main(["train", "--data", "digits", "--target", "label", "--model", "cnn", "--epochs", "10",
                 "--batch-size", "64", "--lr", "0.003", "--device", "cuda", "--precision", precision,
                 "--json", "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result
    assert result["device"].startswith("cuda")
    assert result["metrics"]["test"]["accuracy"] >= 0.9

