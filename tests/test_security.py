"""Security: no user file is ever unpickled, the server starts with safe flags, and no file or
run name reaches outside the workspace."""
from __future__ import annotations

import argparse
import io
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data import Catalog, load_table
from core.data.catalog import MAX_UPLOAD_BYTES, safe_filename
from core.data.preprocess import Preprocessor
from core.engine import Engine
from core.errors import DataError, RunNotFound
from core.runs.execute import execute_run
from core.runs.store import RunStore
from core.runs.trained import TrainedModel

ROOT = Path(__file__).resolve().parents[1]


# --- pickles ------------------------------------------------------------------------------------
class Canary:
    """Unpickling this creates the file at `path`: proof that someone unpickled it."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (self.path, "w")


def pickles(canary: Path) -> dict[str, bytes]:
    return {f"protocol {p}": pickle.dumps(Canary(canary), protocol=p) for p in (0, 2, 4, 5)}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = tmp_path_factory.mktemp("trained")
    engine = Engine(workspace)
    config = RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [8]}),
                       train=TrainConfig(epochs=1, device="cpu"))
    run_id = engine.store.create_run(config.to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "completed"
    folder = engine.store.run_dir(run_id)
    engine.close()
    return folder


def test_no_code_path_can_unpickle() -> None:
    risky = re.compile(r"pickle\.loads?\(|torch\.load\(|read_pickle\(|allow_pickle\s*=\s*True|joblib\.load|"
                       r"dill\.|cloudpickle|shelve\.open|marshal\.loads|yaml\.load\(|yaml\.unsafe_load|(?<![.\w])eval\(|(?<![.\w])exec\(")
    offenders = []
    for folder in ("core", "workbench", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if risky.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("replaced", ["model.safetensors", "model.json", "preprocessor.json", "config.yaml"])
def test_a_pickle_in_place_of_a_model_file_is_refused(trained_run: Path, tmp_path: Path, replaced: str) -> None:
    from core.export.bundle import load_trained

    canary = tmp_path / "canary"
    for label, payload in pickles(canary).items():
        folder = tmp_path / f"run-{label.replace(' ', '')}"
        shutil.copytree(trained_run, folder)
        (folder / replaced).write_bytes(payload)
        (folder / "model.pt").write_bytes(payload)  # a .pt beside it is never read
        (folder / "model.pkl").write_bytes(payload)
        with pytest.raises(Exception):  # noqa: B017 - refused somehow; the point is no code ran
            TrainedModel.load(folder)
        with pytest.raises(Exception):  # noqa: B017 - a bundle folder goes through the same loader
            load_trained(RunStore(tmp_path / "ws"), folder)
        assert not canary.exists(), f"{label} pickle in {replaced} ran code"


def test_the_exported_predict_script_refuses_a_pickle(trained_run: Path, tmp_path: Path) -> None:
    from core.export.predict_script import Predictor

    canary = tmp_path / "canary"
    folder = tmp_path / "bundle"
    shutil.copytree(trained_run, folder)
    (folder / "model.safetensors").write_bytes(pickles(canary)["protocol 4"])
    with pytest.raises(Exception):  # noqa: B017 - safetensors refuses it; the point is no code ran
        Predictor(folder)
    assert not canary.exists()


def test_a_pickle_as_preprocessor_or_config_is_a_readable_error(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    path = tmp_path / "preprocessor.json"
    path.write_bytes(pickles(canary)["protocol 5"])
    with pytest.raises(DataError, match="not a valid preprocessor file"):
        Preprocessor.load(path)
    assert not canary.exists()


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle", "data.csv", "data.tsv", "data.parquet",
                                  "data.txt", "weights.pt", "weights.safetensors", "data"])
def test_a_pickle_uploaded_under_any_name_runs_no_code(tmp_path: Path, name: str) -> None:
    canary = tmp_path / "canary"
    catalog = Catalog(tmp_path / "ws")
    for label, payload in pickles(canary).items():
        try:
            ref = catalog.add_upload(name, payload)
        except DataError as exc:
            assert "\n" not in str(exc)
        else:  # protocol 0 is text: at most it loads as a strange one-column table
            assert label == "protocol 0" and ref.path.parent == catalog.uploads_dir.resolve()
        assert not canary.exists(), f"{label} pickle uploaded as {name} ran code"


def test_parquet_with_a_pickled_extension_type_runs_no_code(tmp_path: Path) -> None:
    # CVE-2023-47248: old pyarrow unpickled "arrow.py_extension_type" metadata when reading a file.
    canary = tmp_path / "canary"
    field = pa.field("a", pa.int64(), metadata={b"ARROW:extension:name": b"arrow.py_extension_type",
                                                b"ARROW:extension:metadata": pickle.dumps(Canary(canary))})
    table = pa.table([pa.array(range(20))], schema=pa.schema([field])).append_column("y", pa.array([0, 1] * 10))
    buf = io.BytesIO()
    pq.write_table(table, buf, store_schema=True)
    ref = Catalog(tmp_path / "ws").add_upload("extension.parquet", buf.getvalue())
    assert load_table(ref.path).shape == (20, 2)
    assert not canary.exists()


# --- the server ------------------------------------------------------------------------------
def _flags(args: list[str]) -> dict[str, str]:
    pairs = args[2:]  # after "run APP"
    assert len(pairs) % 2 == 0
    return dict(zip(pairs[::2], pairs[1::2]))


def test_server_flags_are_safe_by_default() -> None:
    from workbench.cli import build_parser
    from workbench.commands.ui import streamlit_args

    args = build_parser().parse_args(["ui"])
    flags = _flags(streamlit_args(args.host, args.port, True))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.enableXsrfProtection"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--client.showErrorDetails"] == "none"  # tracebacks stay on the server
    assert flags["--server.fileWatcherType"] == "none"
    assert int(flags["--server.maxUploadSize"]) * 2**20 == MAX_UPLOAD_BYTES  # both caps agree
    assert "--server.enableCORS" not in flags or flags["--server.enableCORS"] == "true"


def test_every_flag_is_a_real_streamlit_option() -> None:
    from streamlit import config

    from workbench.commands.ui import streamlit_args

    for key, value in _flags(streamlit_args("127.0.0.1", 8501, True)).items():
        name = key.removeprefix("--")
        assert name in config._config_options_template, f"{name} is not a Streamlit option"
        if name == "client.showErrorDetails":
            assert value in {"none", "type", "stacktrace", "full"}


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                           ("0.0.0.0", True), ("192.168.1.20", True), ("::", True)])
def test_another_address_only_by_flag_and_with_a_warning(host: str, warned: bool, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from streamlit.web import cli as stcli

    from workbench.commands import ui

    seen: list[list[str]] = []
    monkeypatch.setattr(stcli, "main", lambda: seen.append(list(sys.argv)) or 0)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert ui.run(argparse.Namespace(host=host, port=8599, headless=True, workspace=None)) == 0
    assert _flags(seen[0][1:])["--server.address"] == host
    err = capsys.readouterr().err
    assert ("warning" in err and "reachable from other machines" in err) == warned


def test_the_upload_cap_is_enforced_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.data import catalog as catalog_module

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("an upload over the cap was parsed")
    monkeypatch.setattr(catalog_module, "load_table", never)
    catalog = Catalog(tmp_path / "ws")
    with pytest.raises(DataError, match="over the 1 MB upload limit"):
        catalog.add_upload("big.csv", b"a,b\n" + b"1,2\n" * 300_000, max_bytes=2**20)
    assert not catalog.uploads_dir.exists() or list(catalog.uploads_dir.iterdir()) == []


# --- paths -------------------------------------------------------------------------------------
HOSTILE_NAMES = ["../../x.csv", "/etc/passwd", "..\\..\\x.csv", "a\x00b.csv", "....//....//x.csv",
                 "C:\\Windows\\system32\\x.csv", "%2e%2e%2fx.csv", ".hidden.csv", "..", ".", "", "/",
                 "x.csv/../../../y.csv", "\u202egnp.csv", "~/x.csv", "$HOME/x.csv", "x" * 300 + ".csv"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:40])
def test_upload_names_stay_inside_the_workspace(tmp_path: Path, name: str) -> None:
    workspace = tmp_path / "ws"
    outside = tmp_path / "outside"
    outside.mkdir()
    before = sorted(p for p in tmp_path.rglob("*") if workspace not in p.parents and p != workspace)
    clean = safe_filename(name)
    assert clean and "/" not in clean and "\\" not in clean and "\x00" not in clean
    assert not clean.startswith(".") and ".." not in clean and len(clean) <= 100
    catalog = Catalog(workspace)
    ref = catalog.add_upload(name, b"a,y\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(30)))
    assert ref.path.parent == catalog.uploads_dir.resolve()
    assert catalog.resolve(ref.name).path == ref.path
    after = sorted(p for p in tmp_path.rglob("*") if workspace not in p.parents and p != workspace)
    assert after == before, "something was written outside the workspace"


@pytest.mark.parametrize("run_id", ["../x", "../../etc", "/etc/passwd", "..\\x", "x\x00y", "", ".", "..",
                                    "a/b", ".hidden", "x" * 200, "runs/../../x"])
def test_run_ids_cannot_name_a_path(tmp_path: Path, run_id: str) -> None:
    store = RunStore(tmp_path / "ws")
    with pytest.raises(RunNotFound) as info:
        store.run_dir(run_id)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)
    with pytest.raises(RunNotFound):
        store.get(run_id)


def test_run_names_are_labels_not_paths(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "ws")
    run_id = store.create_run({"data": {}}, name="../../../evil")
    assert store.run_dir(run_id).parent == store.runs_dir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert store.get("../../../evil").run_id == run_id  # found by its name, as a label


@pytest.mark.parametrize("command", [["show", "../x"], ["show", "/etc/passwd"], ["export", "../../x", "--out", "OUT"],
                                     ["show", "x\\..\\y"]])
def test_cli_refuses_paths_as_run_ids(tmp_path: Path, command: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    workspace = tmp_path / "ws"
    command = [c.replace("OUT", str(tmp_path / "out")) for c in command]
    code = main([*command, "--workspace", str(workspace)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
