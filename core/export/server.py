"""The REST prediction server: POST /predict with rows by their original column names.

The request model is built from the run's schema, so FastAPI validates every record
(missing, extra and wrongly typed columns are a 422 naming the record and column) and
/docs shows the real columns. No `from __future__ import annotations` here: FastAPI reads
the endpoint's annotation at runtime, and it names a model built inside create_app.
"""
import logging
import math
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from core.data.sequence_encoder import SequencePreprocessor
from core.errors import DataError
from core.export.bundle import example_record
from core.export.http_guards import LOCAL_HOSTS, MAX_BODY_BYTES, RequestGuard
from core.export.image_server import create_image_app
from core.export.recording import PredictionSink, as_label, add_feedback_route
from core.runs.trained import TrainedModel

log = logging.getLogger(__name__)

MAX_RECORDS = 10_000
MAX_ERRORS_SHOWN = 20


Category = Annotated[str | None, BeforeValidator(as_label)]


def record_model(trained: TrainedModel) -> type[BaseModel]:
    """One field per feature column: numbers as float | None, categories as str | None; no others."""
    numeric = trained.preprocessor.numeric_ or {}
    fields: dict[str, Any] = {}
    for i, col in enumerate(trained.schema.features):
        # field names are placeholders: a column may be called 'schema' or '1st value'; the alias is the API
        if col in numeric:
            fields[f"c{i}"] = (float | None, Field(alias=col, description="number (null: the training median)"))
        else:
            cat = trained.preprocessor.categorical_[col]
            levels = ", ".join(cat.levels[:8]) + (", ..." if len(cat.levels) > 8 else "")
            fields[f"c{i}"] = (Category, Field(alias=col, description=f"category: {levels} (null: '{cat.fill}')"))
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example_record(trained.preprocessor)]})
    return create_model("Record", __config__=config, **fields)


def sequence_columns(pre: SequencePreprocessor) -> tuple[list[str], set[str]]:
    """The columns a sequence model's rows need, and which of them are numbers."""
    lay = pre.layout
    order = [c for c in (lay.series_id, lay.time_column) if c and lay.format == "long"]
    return [*order, *[c for c in lay.inputs if c not in order]], set(lay.inputs)


def sequence_record_model(trained: TrainedModel) -> type[BaseModel]:
    """One field per column the windows are made of: the series id and time as given, the inputs as numbers."""
    pre = trained.preprocessor
    assert isinstance(pre, SequencePreprocessor)
    columns, numeric = sequence_columns(pre)
    fields: dict[str, Any] = {}
    for i, col in enumerate(columns):
        if col in numeric:
            fields[f"c{i}"] = (float | None, Field(alias=col, description="number (null: a missing step)"))
        elif col == pre.layout.time_column:
            fields[f"c{i}"] = (str | float, Field(alias=col, description="the row's time: rows are sorted by it"))
        else:
            fields[f"c{i}"] = (Category, Field(alias=col, description="the series (or sequence) the row belongs to"))
    example = {c: (0.0 if c in numeric else "2024-01-01" if c == pre.layout.time_column else "a") for c in columns}
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})
    return create_model("Record", __config__=config, **fields)


def create_app(source: str | Path | TrainedModel, *, hosts: frozenset[str] = LOCAL_HOSTS,
               max_body_bytes: int = MAX_BODY_BYTES, max_records: int = MAX_RECORDS, label: str = "",
               sink: PredictionSink | None = None) -> FastAPI:
    """The app for a bundle folder, a run folder, or a loaded model. `sink` records each prediction
    (and takes POST /feedback); the response then carries each prediction's id."""
    trained = source if isinstance(source, TrainedModel) else TrainedModel.load(source)
    if trained.data_kind == "image":  # an uploaded file, not rows of columns
        return create_image_app(trained, hosts=hosts, label=label, sink=sink)
    schema = trained.schema
    classes = [str(c) for c in schema.classes or []]
    sequence = isinstance(trained.preprocessor, SequencePreprocessor)
    Record = sequence_record_model(trained) if sequence else record_model(trained)
    PredictRequest = create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        records=(list[Record], Field(max_length=max_records, description=f"at most {max_records:,} rows")))
    if isinstance(trained.preprocessor, SequencePreprocessor):
        columns, numeric = sequence_columns(trained.preprocessor)
    else:
        columns, numeric = list(schema.features), set(trained.preprocessor.numeric_ or {})
    name = label or trained.meta.get("run_id") or "model"

    app = FastAPI(title=f"Workbench model: {name}",
                  description=f"{trained.meta['kind']} predicting **{schema.target}** ({schema.task}). "
                              f"POST rows with the columns {', '.join(columns[:12])}"
                              f"{', ...' if len(columns) > 12 else ''} to /predict.",
                  version="1")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc, max_records)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "kind": trained.meta["kind"], "task": schema.task,
                "target": schema.target, "columns": columns, "classes": classes or None,
                "recording": sink is not None}

    @app.post("/predict")
    def predict(payload: PredictRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        rows = [r.model_dump(by_alias=True) for r in payload.records]
        frame = pd.DataFrame({col: pd.Series([r[col] for r in rows], dtype="float64" if col in numeric else object)
                              for col in columns})
        started = time.perf_counter()
        try:
            result = trained.predict_frame(frame) if rows else pd.DataFrame({"prediction": []})
        except DataError as exc:  # a sequence model given too few rows for a window, say
            raise HTTPException(status_code=422, detail=str(exc)) from None
        response: dict[str, Any] = {"task": schema.task, "predictions": _plain(result["prediction"])}
        if sequence:  # one answer per series (forecast) or sequence, not per row
            response["series"] = [str(k) for k in result.index]
        if classes:
            proba = result[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64) if rows else np.zeros((0, 0))
            response["classes"] = classes
            response["probabilities"] = [dict(zip(classes, map(float, p))) for p in proba]
        if sink is not None and rows:
            latency_ms = (time.perf_counter() - started) * 1000.0
            inputs = rows if len(rows) == len(response["predictions"]) else _last_rows(rows, trained, response["series"])
            response["ids"] = sink.record(inputs, response["predictions"], response.get("probabilities"), latency_ms)
        return response

    add_feedback_route(app, sink)

    app.add_middleware(RequestGuard, hosts=hosts, max_body_bytes=max_body_bytes)
    return app


def _last_rows(rows: list[dict[str, Any]], trained: TrainedModel, series: list[str]) -> list[dict[str, Any]]:
    """A forecast answers once per series: the monitor records each series' last row beside its answer."""
    key = getattr(trained.preprocessor, "layout", None) and trained.preprocessor.layout.series_id
    last = {(str(r.get(key)) if key else ""): r for r in rows}
    return [last.get(name, {}) for name in series]


def _plain(values: pd.Series) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def _validation_response(exc: RequestValidationError, max_records: int) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "too_long" and tuple(e.get("loc", ()))[:2] == ("body", "records") for e in errors):
        return JSONResponse(status_code=413, content={"detail": f"too many records: at most {max_records:,} per request"})
    detail = []
    for e in errors[:MAX_ERRORS_SHOWN]:
        loc = [p for p in e.get("loc", ()) if p != "body"]
        where = "body" if e.get("type") == "json_invalid" else _where(loc)
        detail.append({"loc": loc, "msg": e.get("msg", "invalid"), "type": e.get("type", ""), "where": where})
    message = "; ".join(f"{d['where']}: {_reason(d)}" for d in detail)
    if len(errors) > MAX_ERRORS_SHOWN:
        message += f"; and {len(errors) - MAX_ERRORS_SHOWN} more problem(s)"
    return JSONResponse(status_code=422, content={"detail": detail, "message": message})


def _where(loc: list[Any]) -> str:
    # ["records", 0, "sepal_length"] -> "records[0].sepal_length"
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _reason(d: dict[str, Any]) -> str:
    in_record = len(d["loc"]) == 3 and d["loc"][0] == "records"  # ["records", i, column]
    if d["type"] == "json_invalid":
        return "the body is not valid JSON; send {\"records\": [{column: value, ...}]}"
    if in_record and d["type"] == "missing":
        return "this column is missing (send null for an unknown value)"
    if in_record and d["type"] == "extra_forbidden":
        return "the model has no such column"
    return d["msg"]
