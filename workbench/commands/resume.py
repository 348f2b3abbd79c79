"""`workbench resume RUN`: a cancelled or interrupted run goes on from its last checkpoint, as the same run.

Its epochs continue where they stopped and its metrics are appended to; the result is printed as
`workbench train` prints it. A run with no checkpoint (or one that is not stopped) is bad input:
exit code 2 and the reason in words.
"""
from __future__ import annotations

import argparse
import os

import torch

from core.engine import Engine
from core.runs.resume import reopen
from core.training.device import cpu_threads
from workbench.commands.train import execute_here


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="go on training a cancelled or interrupted run from its last checkpoint")
    p.add_argument("run", help="a run id (or a unique prefix, or its name)")
    p.add_argument("--workspace", help="default: $WORKBENCH_HOME or the per-user data folder")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(command="resume")


def run(args: argparse.Namespace) -> int:
    engine = Engine(args.workspace)
    record = reopen(engine.store, args.run, pid=os.getpid(), executor="cli")  # WorkbenchError: exit 2
    torch.set_num_threads(cpu_threads())
    return execute_here(args, engine, record.run_id)
