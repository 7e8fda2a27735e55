"""Wall time and peak memory of the main job, `retention demo`, after installation.

Run from the project root: `.venv/bin/python -m benchmarks.main_job` (about a minute).
It runs the demo on the full bundled data in a fresh temporary home and updates the
"Main job" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.results_page import PeakMemorySampler, describe_machine, replace_section

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m benchmarks.main_job"


def measure_demo(home: Path) -> tuple[float, int, dict]:
    """Run `retention demo --json` in `home`; return wall seconds, peak bytes and the summary."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "retention.cli", "demo", "--json", "--home", str(home)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with PeakMemorySampler(process.pid) as sampler:
        stdout, _ = process.communicate()
    wall_s = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"retention demo failed with exit code {process.returncode}; run it by hand to see why")
    return wall_s, sampler.peak_bytes, json.loads(stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="retention-main-job-") as home:
        wall_s, peak_bytes, summary = measure_demo(Path(home))

    rows = summary["rows"]
    metrics = "; ".join(f"{name} ROC-AUC {values['roc_auc']:.3f}" for name, values in summary["models"].items())
    body = f"""
Command: `{COMMAND}`, which runs `retention demo --json` on the full bundled data (local profile)
in a new temporary home, after installation. Measured on {date.today():%Y-%m-%d}; machine: {describe_machine()}.

| measure | value | aim |
|---|---|---|
| wall time | {wall_s:.0f} s | under 300 s |
| peak resident memory (process and children) | {peak_bytes / 2**30:.2f} GiB | under 4 GiB |

The run read {rows['input']:,} events, built {rows['features']:,} feature rows and trained on
{rows['training_set']:,} labelled rows ({metrics}).
"""
    path = replace_section("Main job", body)
    print(f"wall {wall_s:.1f} s, peak {peak_bytes / 2**30:.2f} GiB; updated {path}")


if __name__ == "__main__":
    main()
