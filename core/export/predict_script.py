#!/usr/bin/env python3
"""Predict with a model exported by Workbench, without Workbench.

    python predict.py INPUT.csv > predictions.csv

INPUT.csv has the columns the model was trained on, by their original names (other
columns, such as the target, are ignored; empty cells are fine). The output has one row
per input row: `prediction`, and for a classifier one `proba_<class>` column per class.

A sequence model reads rows as sequences instead: a forecaster takes each series' last
`window` complete rows (sorted by the time column) and answers once per series, for
`horizon` steps after them; a sequence classifier answers once per sequence (a row of
steps, or the rows of one series id). Their output has a `series` column first.

Needs only torch, safetensors, pandas and numpy. It reads the files beside it:
model.json (the layers), model.safetensors (the weights) and preprocessor.json (how the
columns become model inputs: the statistics learned on the training rows). From Python:

    from predict import Predictor
    Predictor("path/to/bundle").predict(frame)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from torch import nn

OTHER = "(other)"  # the one-hot slot for levels not seen in training
SEQUENCE_FORMAT = "workbench.sequence_preprocessor"


class RecurrentEncoder(nn.Module):
    """An RNN, LSTM or GRU read to the window's end: the last hidden state (both ends if bidirectional)."""

    def __init__(self, cell: str, n_inputs: int, hidden_size: int, num_layers: int, bidirectional: bool,
                 dropout: float) -> None:
        super().__init__()
        self.hidden_size, self.bidirectional = hidden_size, bidirectional
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
            n_inputs, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        if not self.bidirectional:
            return out[:, -1]
        return torch.cat([out[:, -1, :self.hidden_size], out[:, 0, self.hidden_size:]], dim=1)


class ChannelsFirst(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class MeanAndLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=2), x[:, :, -1]], dim=1)


LAYERS = {  # the only layer types a Workbench model is made of
    "Linear": nn.Linear, "BatchNorm1d": nn.BatchNorm1d, "BatchNorm2d": nn.BatchNorm2d, "ReLU": nn.ReLU,
    "Tanh": nn.Tanh, "SiLU": nn.SiLU, "GELU": nn.GELU, "Dropout": nn.Dropout, "Unflatten": nn.Unflatten,
    "Flatten": nn.Flatten, "Conv2d": nn.Conv2d, "MaxPool2d": nn.MaxPool2d, "Conv1d": nn.Conv1d,
    "RecurrentEncoder": RecurrentEncoder, "ChannelsFirst": ChannelsFirst, "MeanAndLast": MeanAndLast,
}


class Predictor:
    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        self.pre = json.loads((folder / "preprocessor.json").read_text(encoding="utf-8"))
        self.schema = self.pre["schema"]
        self.features = [col for col, role in self.schema["roles"].items() if role != "ignore"]
        self.model = build_model(self.meta["layers"])
        self.model.load_state_dict(load_file(str(folder / "model.safetensors")))
        self.model.eval()

    @property
    def is_sequence(self) -> bool:
        return self.pre.get("format") == SEQUENCE_FORMAT

    def windows(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """(examples, window, channels) scaled as in training, and each example's series or sequence."""
        lay = self.pre["layout"]
        mean, std = np.asarray(self.pre["mean"]), np.asarray(self.pre["std"])
        columns = list(lay["inputs"])
        needed = columns + [c for c in (lay["time_column"], lay["series_id"]) if c and lay["format"] == "long"]
        missing = [col for col in needed if col not in frame.columns]
        if missing:
            raise ValueError(f"the input lacks the column(s) {', '.join(missing)} that the model reads")
        values = np.column_stack([numbers(frame[c]) for c in columns]) if columns else np.zeros((len(frame), 0))
        if lay["format"] == "wide":  # a row of steps per sequence, one channel
            seqs = [fill_forward(((row - mean[0]) / std[0])[:, None]) for row in values]
            return np.stack(seqs).astype(np.float32), [str(i) for i in frame.index]
        keys = frame[lay["series_id"]].astype(str).to_numpy() if lay["series_id"] else np.full(len(frame), "")
        order = np.arange(len(frame))
        if lay["time_column"]:
            raw = frame[lay["time_column"]]
            when = pd.to_numeric(raw, errors="coerce") if pd.api.types.is_numeric_dtype(raw.dtype) else \
                pd.to_datetime(raw.astype(str), errors="coerce", format="mixed").astype("int64")
            order = np.lexsort((np.asarray(when, dtype=np.float64), keys))
        else:
            order = np.argsort(keys, kind="stable")
        values, keys = (values[order] - mean) / std, keys[order]
        names, out, window = list(dict.fromkeys(keys)), [], int(lay["window"])
        for name in names:
            rows = values[keys == name]
            if lay["mode"] == "forecast":
                rows = rows[~np.isnan(rows).any(axis=1)]
                if len(rows) < window:
                    raise ValueError(f"a forecast needs the last {window} complete rows of each series; "
                                     f"{name or 'the series'} has {len(rows)}")
                out.append(rows[-window:])
            else:
                seq = np.zeros((window, values.shape[1]))
                last = fill_forward(rows[-window:])
                seq[window - len(last):] = last
                out.append(seq)
        return np.stack(out).astype(np.float32), names

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix: numbers standardised, categories one-hot, gaps filled."""
        missing = [col for col in self.features if col not in frame.columns]
        if missing:
            raise ValueError(f"the input lacks the column(s) {', '.join(missing)} that the model was trained with")
        blocks = []
        for col in self.features:
            if col in self.pre["numeric"]:
                stats = self.pre["numeric"][col]
                values = numbers(frame[col])
                values = np.where(np.isnan(values), stats["median"], values)
                blocks.append(((values - stats["mean"]) / stats["std"]).reshape(-1, 1))
            else:
                stats = self.pre["categorical"][col]
                levels = stats["levels"]
                position = {level: i for i, level in enumerate(levels)}
                texts = labels(frame[col]).fillna(stats["fill"])
                codes = np.array([position.get(t, len(levels)) for t in texts], dtype=np.int64)  # unseen -> OTHER
                blocks.append(np.eye(len(levels) + 1)[codes])
        return np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(frame), 0), np.float32)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        keys = None
        if self.is_sequence:
            X, keys = self.windows(frame)
        else:
            X = self.encode(frame)
        with torch.no_grad():
            out = self.model(torch.from_numpy(X)).numpy().astype(np.float64)
        result = self._answers(out)
        if keys is not None:
            result.insert(0, "series", keys)
        return result

    def _answers(self, out: np.ndarray) -> pd.DataFrame:
        task = self.schema["task"]
        if task == "regression":
            target = self.pre["target"]
            return pd.DataFrame({"prediction": out[:, 0] * target["std"] + target["mean"]})
        if task == "binary":
            p = np.exp(-np.logaddexp(0.0, -out[:, 0]))  # the sigmoid, without overflow for large logits
            proba = np.column_stack([1.0 - p, p])
        else:
            z = np.exp(out - out.max(axis=1, keepdims=True))
            proba = z / z.sum(axis=1, keepdims=True)
        classes = [str(c) for c in self.schema["classes"]]
        result = pd.DataFrame({"prediction": np.asarray(classes, dtype=object)[proba.argmax(axis=1)]})
        for k, label in enumerate(classes):
            result[f"proba_{label}"] = proba[:, k]
        return result


def build_model(layers: list[dict]) -> nn.Sequential:
    modules = []
    for spec in layers:
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["args"].items()}
        modules.append(LAYERS[spec["type"]](**args))
    return nn.Sequential(*modules)


def fill_forward(seq: np.ndarray) -> np.ndarray:
    """A missing step takes the step before it, per column; leading gaps are 0 (the training average)."""
    frame = pd.DataFrame(seq).ffill().fillna(0.0)
    return frame.to_numpy(dtype=np.float64)


def numbers(column: pd.Series) -> np.ndarray:
    """float64 values; text that is not a number, and +/-inf, become NaN (then the training median)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype("float64")
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def labels(column: pd.Series) -> pd.Series:
    """Values as the label strings training saw: 1.0 and 1 both read "1"; gaps stay missing."""
    out = pd.Series(np.nan, index=column.index, dtype=object)
    present = column.notna().to_numpy()
    values = column[present]
    if pd.api.types.is_float_dtype(values.dtype):
        f = values.to_numpy(dtype="float64")
        whole = np.isfinite(f) & (f == np.round(f)) & (np.abs(f) < 2.0**53)
        text = np.where(whole, np.where(whole, f, 0).astype(np.int64).astype(str), f.astype(str))
    else:
        text = values.astype(str).to_numpy(dtype=object)
    out[present] = text
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Predict with an exported Workbench model.")
    parser.add_argument("input", help="a CSV file with the training columns ('-' reads stdin)")
    parser.add_argument("--sep", default=",", help="the CSV delimiter (default ',')")
    args = parser.parse_args()
    try:
        frame = pd.read_csv(sys.stdin if args.input == "-" else args.input, sep=args.sep)
        result = Predictor(Path(__file__).resolve().parent).predict(frame)
    except (OSError, ValueError) as exc:
        print(f"predict.py: {exc}", file=sys.stderr)
        return 2
    result.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
