"""The prediction server of an image run: POST /predict with an uploaded image, class probabilities back.

Send the file as multipart form data (field `file`, repeatable: `curl -F file=@cat.jpg`) or as the
raw body with an image content type (`curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg'`).
The body is capped before it is read (http_guards), and each image is decoded as in training:
Pillow with the formats allowed by name, its pixel count checked from the header first.
No `from __future__ import annotations`: FastAPI reads the endpoint's annotations at runtime.
"""
import logging
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from core.errors import WorkbenchError
from core.export.http_guards import LOCAL_HOSTS, RequestGuard
from core.export.recording import PredictionSink, add_feedback_route
from core.runs.trained import TrainedModel

log = logging.getLogger(__name__)

MAX_IMAGE_BODY_BYTES = 20 * 2**20  # a few phone photos
MAX_FILES = 32


def create_image_app(trained: TrainedModel, *, hosts: frozenset[str] = LOCAL_HOSTS,
                     max_body_bytes: int = MAX_IMAGE_BODY_BYTES, label: str = "",
                     sink: PredictionSink | None = None) -> FastAPI:
    schema = trained.schema
    classes = [str(c) for c in schema.classes or []]
    name = label or trained.meta.get("run_id") or "model"
    c, h, w = trained.preprocessor.image_shape
    app = FastAPI(title=f"Workbench model: {name}",
                  description=f"{trained.meta['kind']} classifying images into {', '.join(classes[:12])}. POST an "
                              f"image file to /predict (multipart field `file`, or the raw body with an image "
                              f"content type); it is resized to {w} x {h} as in training.", version="1")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "kind": trained.meta["kind"], "task": schema.task,
                "input": {"image": [c, h, w]}, "classes": classes, "recording": sink is not None}

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        try:
            files = await _files(request)
        except ValueError as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc)})
        started = time.perf_counter()
        try:
            result = trained.predict_images([data for _, data in files])
        except WorkbenchError as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc)})
        proba = result[[f"proba_{k}" for k in classes]].to_numpy(dtype=np.float64)
        answer = {"task": schema.task, "classes": classes, "files": [n for n, _ in files],
                  "predictions": [str(p) for p in result["prediction"]],
                  "probabilities": [dict(zip(classes, map(float, p))) for p in proba]}
        if sink is not None:  # the file's name and size stand for the image in the log
            answer["ids"] = sink.record([{"file": n, "bytes": len(d)} for n, d in files], answer["predictions"],
                                        answer["probabilities"], (time.perf_counter() - started) * 1000.0)
        return JSONResponse(answer)

    add_feedback_route(app, sink)

    app.add_middleware(RequestGuard, hosts=hosts, max_body_bytes=max_body_bytes)
    return app


async def _files(request: Request) -> list[tuple[str, bytes]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
        found = [(getattr(v, "filename", None) or "upload", await v.read()) for _, v in form.multi_items()
                 if hasattr(v, "read")]
        if not found:
            raise ValueError("no file in the form: send the image as the field `file` (curl -F file=@photo.jpg)")
        return found
    if kind.startswith("image/") or kind == "application/octet-stream":
        body = await request.body()
        if not body:
            raise ValueError("the body is empty: send the image's bytes")
        return [("upload", body)]
    raise ValueError("send an image: multipart form data with a `file` field, or the raw file with an image "
                     "content type such as image/png")


__all__ = ["create_image_app", "MAX_IMAGE_BODY_BYTES"]
