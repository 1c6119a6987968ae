"""py-spy profiles of running services: collapsed stacks on disk (open them in speedscope or
flamegraph.pl) and a summary of where the time goes (self time per function; inclusive time of our
own code: services/, shared/)."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

PY_SPY = str(Path(sys.executable).parent / "py-spy")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
OUR_CODE = ("services/", "shared/")


def _short_file(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/", "/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def frame_name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m['func']} ({_short_file(m['file'])})"


def summarise(collapsed: str, top: int = 12) -> dict[str, Any]:
    """Self time per function, and inclusive time of our own functions, as shares of all samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for name in set(frames):
            if any(f"({p}" in name for p in OUR_CODE):
                inclusive[name] += count
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "self_top": [{"function": f, "percent": share(n)} for f, n in own.most_common(top)],
        "own_code_inclusive_top": [
            {"function": f, "percent": share(n)} for f, n in inclusive.most_common(top)
        ],
    }


class Profiler:
    """`start(names, seconds)`: py-spy record of each named process (non-blocking, 100 Hz)."""

    def __init__(self, directory: str | Path, pids: dict[str, int]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pids = pids
        self.threads: list[threading.Thread] = []
        self.errors: dict[str, str] = {}

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.collapsed.txt"

    def start(self, names: list[str], seconds: float, delay_s: float = 0.0) -> None:
        for name in names:
            thread = threading.Thread(target=self._record, args=(name, seconds, delay_s), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _record(self, name: str, seconds: float, delay_s: float) -> None:
        threading.Event().wait(delay_s)
        cmd = [
            PY_SPY,
            "record",
            "--pid",
            str(self.pids[name]),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            "100",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(self.path(name)),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            self.errors[name] = done.stderr[-500:]

    def collect(self) -> dict[str, Any]:
        for thread in self.threads:
            thread.join()
        out: dict[str, Any] = {}
        for name in self.pids:
            path = self.path(name)
            if path.exists():
                out[name] = {"file": str(path), **summarise(path.read_text())}
            elif name in self.errors:
                out[name] = {"error": self.errors[name]}
        return out
