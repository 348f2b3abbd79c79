"""What a prediction server records, and POST /feedback: the labels that come back for its predictions.

The server only knows this Protocol; core.lifecycle.recorder's PredictionLog is the sink `workbench
serve` gives it (core.export sits below core.lifecycle, so the log is handed in, never imported).
No `from __future__ import annotations`: FastAPI reads the endpoint's annotation at runtime.
"""
import math
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

MAX_FEEDBACK = 10_000


def as_label(value: Any) -> Any:
    """Numbers and booleans as the label text training saw (2.0 -> "2", true -> "True"), like as_labels."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value == int(value) and abs(value) < 2.0**53 else str(np.float64(value))
    return value  # text, None, or something str validation will refuse with a clear message


class PredictionSink(Protocol):
    """Where a server records what it predicted and the labels sent back (core.lifecycle.recorder's
    PredictionLog); without one nothing is recorded and /feedback says so."""

    def record(self, inputs: Sequence[dict[str, Any]], predictions: Sequence[Any],
               probabilities: Sequence[dict[str, float]] | None, latency_ms: float) -> list[int]: ...

    def add_feedback(self, labels: Iterable[tuple[int, Any]]) -> tuple[int, list[int]]: ...


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int = Field(description="a prediction's id, as /predict returned it")
    label: str | float | int | bool = Field(description="the true class (or value) for that prediction")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedback: list[FeedbackItem] = Field(max_length=MAX_FEEDBACK)


NOT_RECORDING = {"detail": "this server does not record predictions (it was started with --no-record or "
                           "WORKBENCH_MONITOR=0), so there is nothing to attach labels to"}


def add_feedback_route(app: FastAPI, sink: PredictionSink | None) -> None:
    @app.post("/feedback")
    def feedback(payload: FeedbackRequest) -> Any:
        if sink is None:
            return JSONResponse(status_code=409, content=NOT_RECORDING)
        stored, unknown = sink.add_feedback((item.id, as_label(item.label)) for item in payload.feedback)
        return {"stored": stored, "unknown_ids": unknown[:100]}
