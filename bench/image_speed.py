"""Image training speed: Workbench's path against the tutorial loop a user would write, side by side.

Same files (the digits_images sample, unpacked to a folder, its broken scan left out since
ImageFolder would stop on it), same model (the zoo's CNN), same optimiser, batch size and epochs:

  workbench  decode every file once into the workspace's uint8 cache, then the Trainer with the
             data resident on the device as uint8 (the model's first layer scales it)
  tutorial   torchvision ImageFolder + transforms (Grayscale, Resize, ToTensor, Normalize) +
             DataLoader(shuffle, num_workers): every file decoded again every epoch

The ratio is end to end (workbench: cold decode + training; tutorial: training), and also per
epoch once warm. Prints JSON lines, then the summary.

  python bench/image_speed.py --quick                  # 2 epochs (CPU), about a minute on 2 cores
  python bench/image_speed.py --epochs 5 --device cuda
  python bench/image_speed.py --acceptance             # issue 13's check: digits zip, CNN, 15 epochs
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig  # noqa: E402
from core.data.images.dataset import DecodeOptions, load_images  # noqa: E402
from core.models import build_model  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402

SAMPLE = ROOT / "sample_data" / "digits_images.zip"


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def unpack(folder: Path) -> Path:
    """The sample's images as class folders on disk (what ImageFolder reads), without junk and the broken scan."""
    with zipfile.ZipFile(SAMPLE) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.startswith("digits/") and name.count("/") == 2 and name.endswith((".png", ".jpg", ".bmp")) \
                    and "cut_short" not in name:
                target = folder / name.removeprefix("digits/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
    return folder


def workbench_loop(images: Path, workspace: Path, epochs: int, batch: int, device: str) -> dict:
    started = time.perf_counter()
    ds = load_images(images, "bench-" + str(time.time_ns()), DecodeOptions(), workspace, "digits")  # cold cache
    decode_s = time.perf_counter() - started
    classes = sorted(set(ds.labels), key=int)
    y = torch.tensor([classes.index(label) for label in ds.labels])
    config = RunConfig(data=DataConfig("bench", "label"), model=ModelConfig("cnn"), optim=OptimConfig("adam", lr=1e-3),
                       train=TrainConfig(epochs=epochs, batch_size=batch, early_stopping=False, device=device))
    torch.manual_seed(0)
    model = build_model("cnn", {}, int(ds.X[0].size), len(classes), ds.shape, "image")
    val = slice(0, 64)
    trainer = Trainer(config, "multiclass").fit(model, ds.X, y.numpy(), ds.X[val], y[val].numpy())
    total = time.perf_counter() - started
    return {"loop": "workbench", "images": len(ds.labels), "shape": list(ds.shape), "decode_s": decode_s,
            "train_s": trainer.train_seconds_, "total_s": total, "samples_per_s": trainer.samples_per_s_,
            "step_mode": trainer.step_mode_}


def tutorial_loop(images: Path, shape: tuple[int, int, int], epochs: int, batch: int, device: str,
                  workers: int) -> dict:
    from torchvision import datasets, transforms

    channels, height, width = shape
    tf = transforms.Compose([transforms.Grayscale(channels), transforms.Resize((height, width)),
                             transforms.ToTensor(), transforms.Normalize([0.5] * channels, [0.5] * channels)])
    data = datasets.ImageFolder(str(images), transform=tf)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    torch.manual_seed(0)
    # the same CNN without its Pixels layer: Normalize(0.5, 0.5) after ToTensor is the same [-1, 1] scaling
    model = build_model("cnn", {}, channels * height * width, len(data.classes), shape, "image")[1:].to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen, epoch_s = 0, []
    started = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()  # as the tutorial prints it
            seen += len(xb)
        epoch_s.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return {"loop": "tutorial", "images": len(data), "workers": workers, "total_s": total,
            "samples_per_s": seen / total, "warm_epoch_s": min(epoch_s)}


def acceptance(workspace: Path) -> None:
    """`workbench train --data digits_images.zip --model cnn --epochs 15 --device cpu --json`, timed."""
    from workbench.cli import main

    started = time.perf_counter()
    code = main(["train", "--data", str(SAMPLE), "--model", "cnn", "--epochs", "15", "--device", "cpu", "--json",
                 "--quiet", "--workspace", str(workspace)])
    log(check="acceptance", exit_code=code, seconds=round(time.perf_counter() - started, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--quick", action="store_true", help="2 epochs")
    parser.add_argument("--acceptance", action="store_true", help="run issue 13's 15-epoch CLI check instead")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wb-image-bench-"))
    try:
        if args.acceptance:
            acceptance(tmp / "ws")
            return
        epochs = 2 if args.quick else args.epochs
        images = unpack(tmp / "images")
        ours = workbench_loop(images, tmp / "ws", epochs, args.batch_size, args.device)
        log(**ours)
        theirs = tutorial_loop(images, tuple(ours["shape"]), epochs, args.batch_size, args.device, args.workers)
        log(**theirs)
        our_epoch = ours["train_s"] / epochs
        log(summary="image_speed", device=args.device, epochs=epochs, batch_size=args.batch_size,
            cpu_cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
            ratio_end_to_end=round(theirs["total_s"] / ours["total_s"], 2),
            ratio_per_warm_epoch=round(theirs["warm_epoch_s"] / our_epoch, 2),
            workbench_decode_s=round(ours["decode_s"], 2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
