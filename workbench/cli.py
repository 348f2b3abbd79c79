"""`workbench`: the command line. Every command also works from the UI and from `core`.

Bad input ends with exit code 2 and one readable line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Before torch loads: busy-waiting OpenMP threads starve everything else on a small CPU
# (the app, a browser, the other run); the workers set the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from core.errors import WorkbenchError  # noqa: E402

# each module has add_parser(subparsers) and run(args) -> int
COMMANDS = ("ui", "train", "resume", "runs", "show", "compare", "export", "serve", "explain", "tune", "optimize", "monitor",
            "finetune", "db")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits 2; keep it to one line
        self.exit(2, f"workbench: {message} (see `workbench {self.prog.split()[-1]} --help`)\n"
                  if " " in self.prog else f"workbench: {message} (see `workbench --help`)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with `argv` naming a command, that command's alone (each command module
    imports its part of core: `workbench train` need not load ONNX, Optuna and the server's modules)."""
    parser = _Parser(prog="workbench", description="Train, compare and explain neural models.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    named = next((a for a in argv or () if not a.startswith("-")), None)
    for name in (named,) if named in COMMANDS else COMMANDS:
        module = _command(name)
        if module is not None:
            module.add_parser(sub)
    return parser


def _command(name: str):
    try:
        return importlib.import_module(f"workbench.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"workbench.commands.{name}":
            return None  # command not built into this version
        raise


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("WORKBENCH_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(given)
    args = parser.parse_args(given)
    if args.command is None:
        args = build_parser(["ui"]).parse_args(["ui", *given])
    try:
        return int(_command(args.command).run(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a user sees one line; WORKBENCH_DEBUG=1 shows the trace
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error ({type(exc).__name__}: {exc}); rerun with WORKBENCH_DEBUG=1 for details",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
