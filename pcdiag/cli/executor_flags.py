"""The flags that say who runs a sweep's units (`pcdiag sweep` and `pcdiag figures`):
--executor, --workers, --address, --executor-option KEY=VALUE."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pcdiag.engine import executors


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the units run (see README: Sweeps on many "
                                      "machines)")
    group.add_argument("--executor", choices=list(executors.EXECUTORS), default=None,
                       help="local: this process (default); processes: --workers processes of "
                       "this machine, one per GPU where there are several; ray: one Ray task "
                       "per unit; slurm: a job array (ray and slurm need --store)")
    group.add_argument("--workers", type=int, metavar="N", default=None,
                       help="worker processes (processes), tasks in flight (ray), array tasks "
                       "at once (slurm)")
    group.add_argument("--address", metavar="ADDR", default=None,
                       help="the Ray cluster to join: auto, or e.g. ray://head:10001 (default: "
                       "start a local Ray runtime for the sweep)")
    group.add_argument("--executor-option", action="append", metavar="KEY=VALUE", default=[],
                       help="an executor setting, repeatable: e.g. num_gpus=0.5 (ray), "
                       "slurm_partition=gpu, timeout_min=120, gpus_per_node=1 (slurm), "
                       "cluster=local (slurm without SLURM), max_attempts=2")


def executor_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """{"executor": Executor} when any executor flag was given, else {} (the default)."""
    name = getattr(args, "executor", None)
    workers = getattr(args, "workers", None)
    address = getattr(args, "address", None)
    options = dict(_option(text) for text in getattr(args, "executor_option", None) or [])
    if name is None and workers is None and address is None and not options:
        return {}
    if name is None:
        name = "ray" if address is not None else "processes" if workers is not None else "local"
    return {"executor": executors.make(name, workers=workers, address=address, **options)}


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise executors.ExecutorError(
            f"--executor-option {text!r}: give KEY=VALUE, e.g. --executor-option "
            "slurm_partition=gpu")
    try:
        parsed = json.loads(value)  # numbers, true/false, lists
    except ValueError:
        parsed = value
    return key.strip().replace("-", "_"), parsed
