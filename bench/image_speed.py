"""Image training speed: Workbench's path against the tutorial loop a user would write, side by side.

Same files (the digits_images sample, unpacked to a folder, its broken scan left out since
ImageFolder would stop on it), same model (the zoo's CNN), same optimiser, batch size and epochs:

  workbench  decode every file once into the workspace's uint8 cache, then the Trainer with the
             data resident on the device as uint8 (the model's first layer scales it)
  tutorial   torchvision ImageFolder + transforms (Grayscale, Resize, ToTensor, Normalize) +
             DataLoader(shuffle, num_workers): every file decoded again every epoch

Threads: each side as it runs for a user. Workbench's side sets torch's threads as `workbench train`
and a run's worker do (core.training.device.cpu_threads: every core but one); the tutorial keeps
torch's default (all cores), as a script that never sets them does, and its DataLoader workers
(default min(4, cores)) run one thread each, as PyTorch makes them.

The ratio is end to end (workbench: cold decode + training; tutorial: training), and also per
epoch once warm (each side's fastest epoch). The machine is shared, so `--repeats N` runs the two
sides by turns N times and keeps each side's best; the load average is printed beside every
figure. Prints JSON lines, then the summary.

  python bench/image_speed.py --quick                  # 2 epochs (CPU), twice by turns, about a minute on 2 cores
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
import torch._dynamo  # noqa: F401 - torch.optim imports it at the first optimizer: 3-10 s here, which
# whichever side ran first paid alone (Workbench's warm worker has it preloaded, core.runs.preload)
from torchvision import datasets, transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig  # noqa: E402
from core.data.images.dataset import DecodeOptions, load_images  # noqa: E402
from core.models import build_model  # noqa: E402
from core.training.device import cpu_threads  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402

SAMPLE = ROOT / "sample_data" / "digits_images.zip"


def log(**kw) -> None:
    print(json.dumps(kw), flush=True)


def load() -> float:
    """The 1-minute load average: the machine is shared, so every figure carries it."""
    return round(os.getloadavg()[0], 2)


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
    default_threads = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())  # as workbench train sets them
    try:
        return _workbench_fit(images, workspace, epochs, batch, device)
    finally:
        torch.set_num_threads(default_threads)


def _workbench_fit(images: Path, workspace: Path, epochs: int, batch: int, device: str) -> dict:
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
    epoch_s = [len(ds.labels) / row["samples_per_s"] for row in trainer.history_ if row.get("samples_per_s")]
    return {"loop": "workbench", "images": len(ds.labels), "shape": list(ds.shape), "decode_s": decode_s,
            "train_s": trainer.train_seconds_, "total_s": total, "samples_per_s": trainer.samples_per_s_,
            "warm_epoch_s": min(epoch_s), "threads": torch.get_num_threads(), "step_mode": trainer.step_mode_,
            "load": load()}


def tutorial_loop(images: Path, shape: tuple[int, int, int], epochs: int, batch: int, device: str,
                  workers: int, threads: int | None = None) -> dict:
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    try:
        return _tutorial_fit(images, shape, epochs, batch, device, workers)
    finally:
        torch.set_num_threads(default_threads)


def _tutorial_fit(images: Path, shape: tuple[int, int, int], epochs: int, batch: int, device: str,
                  workers: int) -> dict:
    started = time.perf_counter()  # listing the files is part of it, as load_images's scan is of ours
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
    return {"loop": "tutorial", "images": len(data), "workers": workers, "threads": torch.get_num_threads(),
            "total_s": total, "samples_per_s": seen / total, "warm_epoch_s": min(epoch_s), "load": load()}


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
    parser.add_argument("--tutorial-threads", type=int, default=None,
                        help="torch threads of the tutorial's training process (default: torch's own, all cores)")
    parser.add_argument("--repeats", type=int, default=None, help="run both sides by turns this many times "
                        "and keep each side's best (default 1, --quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 epochs, 2 repeats")
    parser.add_argument("--acceptance", action="store_true", help="run issue 13's 15-epoch CLI check instead")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wb-image-bench-"))
    try:
        if args.acceptance:
            acceptance(tmp / "ws")
            return
        epochs = 2 if args.quick else args.epochs
        repeats = args.repeats or (2 if args.quick else 1)
        images = unpack(tmp / "images")
        ours_runs, theirs_runs = [], []
        for _ in range(repeats):  # by turns: a burst of load from elsewhere hits both sides alike
            ours_runs.append(workbench_loop(images, tmp / "ws", epochs, args.batch_size, args.device))
            log(**ours_runs[-1])
            theirs_runs.append(tutorial_loop(images, tuple(ours_runs[-1]["shape"]), epochs, args.batch_size,
                                             args.device, args.workers, args.tutorial_threads))
            log(**theirs_runs[-1])
        ours = min(ours_runs, key=lambda r: r["total_s"])
        theirs = min(theirs_runs, key=lambda r: r["total_s"])
        log(summary="image_speed", device=args.device, epochs=epochs, batch_size=args.batch_size, repeats=repeats,
            cpu_cores=os.cpu_count(), workbench_threads=ours["threads"], tutorial_threads=theirs["threads"],
            tutorial_workers=args.workers,
            ratio_end_to_end=round(theirs["total_s"] / ours["total_s"], 2),
            ratio_per_warm_epoch=round(min(r["warm_epoch_s"] for r in theirs_runs)
                                       / min(r["warm_epoch_s"] for r in ours_runs), 2),
            workbench_decode_s=round(ours["decode_s"], 2),
            load=sorted({r["load"] for r in ours_runs + theirs_runs}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
