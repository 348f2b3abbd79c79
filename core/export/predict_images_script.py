#!/usr/bin/env python3
"""Classify image files with a model exported by Workbench, without Workbench.

    python predict.py photo1.jpg photo2.png ... > predictions.csv

Each file is decoded as the training images were (preprocessor.json gives the size and whether
the model sees grey or colour), then model.onnx gives the class probabilities. The output has one
row per file: `file`, `prediction`, and one `proba_<class>` column per class.

Needs only onnxruntime, Pillow and numpy. From Python:

    from predict import ImagePredictor
    ImagePredictor("path/to/bundle").predict([open("photo.jpg", "rb").read()])
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MAX_PIXELS = 40_000_000  # as Workbench: larger images are refused before they are decoded
FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "WEBP", "TIFF")


class ImagePredictor:
    def __init__(self, folder: str | Path = Path(__file__).parent):
        folder = Path(folder)
        pre = json.loads((folder / "preprocessor.json").read_text(encoding="utf-8"))
        self.size = tuple(pre["size"])  # (width, height)
        self.channels = int(pre["channels"])
        self.classes = [str(c) for c in pre["schema"]["classes"]]
        self.task = pre["schema"]["task"]
        self.session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])

    def decode(self, data: bytes) -> np.ndarray:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
        if im.size[0] * im.size[1] > MAX_PIXELS:
            raise ValueError(f"{im.size[0]} x {im.size[1]} pixels is too large")
        if im.format == "JPEG":
            im.draft("RGB", self.size)  # as Workbench decodes: at 1/2, 1/4, 1/8 scale when that is enough
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
            im = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode in ("RGBA", "LA", "PA"):
            rgba = im.convert("RGBA")
            im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        im = im.convert("RGB").resize(self.size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        arr = np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
        if self.channels == 1:
            luma = arr[0] * 0.299 + arr[1] * 0.587 + arr[2] * 0.114
            arr = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[None]
        return arr

    def predict(self, files: list[bytes]) -> list[dict]:
        batch = np.stack([self.decode(f) for f in files])
        proba, label = self.session.run(["probabilities", "label"], {"image": batch})
        return [{"prediction": str(label[i]), **{f"proba_{c}": float(proba[i, k]) for k, c in enumerate(self.classes)}}
                for i in range(len(files))]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python predict.py IMAGE [IMAGE ...] > predictions.csv", file=sys.stderr)
        return 2
    predictor = ImagePredictor()
    writer = csv.DictWriter(sys.stdout, ["file", "prediction", *[f"proba_{c}" for c in predictor.classes]])
    writer.writeheader()
    for name in argv:
        try:
            row = predictor.predict([Path(name).read_bytes()])[0]
        except (OSError, ValueError) as exc:
            print(f"predict.py: {name}: {exc}", file=sys.stderr)
            return 2
        writer.writerow({"file": name, **row})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
