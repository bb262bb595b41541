"""Scoring work in CPU instructions per record, counted by valgrind (callgrind): the same figure on a busy machine.

Records per second on a shared 2-core machine move by 10-20% from one hour to the next with no change in the code, so
a change to the fold is judged here: instructions are counted, not timed (`valgrind --tool=callgrind` counts the same
total for the same program and input whatever else the machine does). The batch is built once, pickled, and folded
by a child process under valgrind once and three times; the difference over two is one batch, without the start-up.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import pickle, sys
from bench.scoring import World
seeded, event = pickle.load(open(sys.argv[1], "rb"))
world = World()
world.fold.config
for _ in range(int(sys.argv[2])):
    world.profiles.items = dict(seeded)
    world.fold.fold_batch(event["Records"])
"""


def _count(state: Path, rounds: int) -> int:
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            CHILD,
            str(state),
            str(rounds),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if not found:
        raise RuntimeError("valgrind printed no instruction count")
    return int(found.group(1))


def run(quick: bool = False) -> dict[str, Any]:
    """Instructions per record for the realistic mix (200 profiles x 5), or n/a where valgrind is not installed."""
    if quick or shutil.which("valgrind") is None:
        reason = "skipped in --quick" if quick else "valgrind is not installed"
        return {"status": "n/a", "reason": reason}
    from bench import scoring

    mix = scoring.Mix(200, 5)
    world = scoring.World()
    scoring.warm_profiles(world, mix.profiles)
    event = scoring.stream_batch(world, mix)
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "batch.pkl"
        state.write_bytes(pickle.dumps((dict(world.profiles.items), event)))
        once, thrice = _count(state, 1), _count(state, 3)
    per_batch = (thrice - once) / 2
    return {
        "status": "ok",
        "mix": mix.label,
        "records": mix.records,
        "instructions_per_batch": per_batch,
        "instructions_per_record": per_batch / mix.records,
    }
