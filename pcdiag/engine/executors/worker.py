"""A `processes` worker: `python -m pcdiag.engine.executors.worker MODULE:FUNCTION`.

Reads tasks (JSON lines) on stdin, runs each with FUNCTION (through base.execute) and writes
its Outcome as a JSON line to the original stdout; anything else the process prints goes to
stderr, so it cannot garble the answers. Ends at the end of its input.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys

from pcdiag.engine.executors.base import Task, execute


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() and C libraries now write to stderr
    module, _, name = argv[0].partition(":")
    task_fn = getattr(importlib.import_module(module), name)
    for line in sys.stdin:
        if line.strip():
            outcome = execute(task_fn, Task.from_json(json.loads(line)))
            answers.write(json.dumps(dataclasses.asdict(outcome)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
