"""Shared helpers of the benchmarks: the machine description and section updates of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from pathlib import Path

import psutil

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
PAGE_HEADER = """# Benchmark results

Every number on this page was measured by the command named in its section, on the machine that
section describes. Rerun the command to refresh the section; other sections stay as they are.
"""


def describe_machine() -> str:
    """Return a one-line description of this machine: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB memory, no GPU, Python {platform.python_version()}"


def replace_section(title: str, body: str, path: Path = RESULTS_PATH) -> Path:
    """Write `body` under the heading `## title`, replacing that section only."""
    text = path.read_text(encoding="utf-8") if path.exists() else PAGE_HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path


def tree_rss(root: psutil.Process) -> int:
    """Return the resident memory in bytes of `root` and all its children; vanished children count 0."""
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


class PeakMemorySampler:
    """Samples the resident memory of a process and all its children until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_bytes = max(self.peak_bytes, tree_rss(self.process))
            except psutil.Error:
                return
            time.sleep(self.interval_s)

    def __enter__(self) -> "PeakMemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
