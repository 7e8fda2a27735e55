"""Ingestion benchmark: rows per second and peak memory of conversion plus validation of a large CSV.

Run from the project root:

    .venv/bin/python -m benchmarks.ingest_benchmark            # about 1 GB, then updates RESULTS.md
    .venv/bin/python -m benchmarks.ingest_benchmark --size-gb 0.05 --no-write

The script writes a synthetic event log of the requested size into a temporary folder. A child
process runs the conversion (`ingest_source_files`) and the Great Expectations validation
(`validate_event_file`) on it while this process samples the child's resident memory. The folder
and the generated file are deleted at the end, and the measured numbers replace the "Ingestion"
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from benchmarks.results_page import PeakMemorySampler, describe_machine, replace_section
from feature_repo.ingestion.ingest import DEFAULT_CHUNK_ROWS as CONVERSION_CHUNK_ROWS
from monitoring.validation import DEFAULT_CHUNK_ROWS as VALIDATION_CHUNK_ROWS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m benchmarks.ingest_benchmark"
SECTION_TITLE = "Ingestion"
# Memory target of the ingestion of a 1 GB file, in bytes (2 GB, not 2 GiB).
MEMORY_LIMIT_BYTES = 2 * 10**9
GENERATED_ROWS_PER_CHUNK = 1_000_000
SAMPLE_SECONDS = 0.1
# Shares of generated rows that repeat a row exactly and whose amount is not a number.
DUPLICATE_SHARE = 0.002
BAD_AMOUNT_SHARE = 0.0005
CATEGORIES = [f"category-{number:02d}" for number in range(50)]
EVENT_TYPES = ["view", "cart", "purchase", "search"]
EVENT_TYPE_SHARES = [0.6, 0.15, 0.2, 0.05]
FIRST_EVENT = datetime(2023, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 2 * 365 * 86400


def generate_events(path: Path, target_bytes: int, seed: int = 11) -> int:
    """Write a CSV event log of at least `target_bytes` and return its row count (header excluded)."""
    rng = np.random.default_rng(seed)
    options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
    rows = 0
    with pa_csv.CSVWriter(path, _chunk_schema(), write_options=options) as writer:
        while path.stat().st_size < target_bytes:
            table = _event_chunk(rng, GENERATED_ROWS_PER_CHUNK)
            writer.write_table(table)
            rows += table.num_rows
            # The writer buffers little, so the file size tracks the rows written.
            options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    return rows


def _chunk_schema() -> pa.Schema:
    names = ["user_id", "event_time", "event_type", "item_id", "category", "amount", "quantity", "session_id", "properties"]
    return pa.schema([pa.field(name, pa.string()) for name in names])


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pa.array(numbers).cast(pa.string()), "")


def _event_chunk(rng: np.random.Generator, size: int) -> pa.Table:
    """Return `size` random events as text columns, with a few exact duplicates and bad amounts."""
    event_type = rng.choice(len(EVENT_TYPES), size=size, p=EVENT_TYPE_SHARES)
    is_purchase = event_type == EVENT_TYPES.index("purchase")
    seconds = rng.integers(0, SPAN_SECONDS, size=size) + int(FIRST_EVENT.timestamp())
    amount_text = pc.cast(pa.array(np.round(rng.uniform(1, 200, size=size), 2)), pa.string())
    amount_text = pc.if_else(pa.array(is_purchase), amount_text, pa.scalar(None, pa.string()))
    bad_amount = rng.random(size) < BAD_AMOUNT_SHARE
    amount_text = pc.if_else(pa.array(bad_amount & is_purchase), pa.scalar("abc"), amount_text)
    quantity = pc.if_else(
        pa.array(is_purchase), pa.array(rng.integers(1, 6, size=size)).cast(pa.string()), pa.scalar(None, pa.string())
    )
    is_search = event_type == EVENT_TYPES.index("search")
    properties = pc.if_else(pa.array(is_search), pa.scalar('{"keyword": "shoes"}'), pa.scalar(None, pa.string()))
    table = pa.table(
        {
            "user_id": _prefixed("u", rng.integers(0, 200_000, size=size)),
            "event_time": pc.strftime(pa.array(seconds, type=pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ"),
            "event_type": pa.array(np.array(EVENT_TYPES, dtype=object)[event_type], type=pa.string()),
            "item_id": _prefixed("sku-", rng.integers(0, 50_000, size=size)),
            "category": pa.array(np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), size=size)]),
            "amount": amount_text,
            "quantity": quantity,
            "session_id": _prefixed("s", rng.integers(0, 5_000_000, size=size)),
            "properties": properties,
        },
        schema=_chunk_schema(),
    )
    repeated = rng.integers(0, size, size=int(size * DUPLICATE_SHARE))
    return pa.concat_tables([table, table.take(repeated)])


def run_child(csv_path: Path, home: Path) -> None:
    """Convert and validate `csv_path` into `home`, then print the counts and timings as JSON."""
    from feature_repo.ingestion.source_files import ingest_source_files
    from monitoring.validation import validate_event_file
    from retention.settings import load_settings

    settings = load_settings(home=home)
    settings.ensure_dirs()
    started = time.perf_counter()
    ingestion = ingest_source_files(settings, [csv_path])
    converted = time.perf_counter()
    # The validated_events asset does the same: the quarantine starts from the conversion's rows.
    shutil.copyfile(settings.conversion_quarantine_path, settings.quarantine_path)
    validation = validate_event_file(
        settings.raw_events_path,
        settings.events_path,
        settings.quarantine_path,
        settings,
        source_rows=ingestion.events.input_rows,
    )
    validated = time.perf_counter()
    report = ingestion.events
    usage = resource.getrusage(resource.RUSAGE_SELF)
    document = {
        "input_rows": report.input_rows,
        "converted_rows": report.converted_rows,
        "conversion_quarantined_rows": report.quarantined_rows,
        "duplicate_rows": report.duplicate_rows,
        "accepted_rows": validation.accepted_rows,
        "validation_quarantined_rows": validation.quarantined_rows,
        "conversion_seconds": converted - started,
        "validation_seconds": validated - converted,
        # ru_maxrss is in KiB on Linux: the kernel's own peak of this process.
        "ru_maxrss_bytes": usage.ru_maxrss * 1024,
        # CPU time depends less than wall time on other work on the machine.
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
    print(json.dumps(document))


def measure(csv_path: Path, home: Path) -> dict:
    """Run the child on `csv_path` while sampling its resident memory, and return its report with the peaks."""
    command = [sys.executable, "-m", "benchmarks.ingest_benchmark", "--child", str(csv_path), str(home)]
    environment = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, text=True)
    with PeakMemorySampler(child.pid, interval_s=SAMPLE_SECONDS) as sampler:
        output, _ = child.communicate()
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"The measured run failed with exit code {child.returncode}. Its log is above.")
    document = json.loads(output.strip().splitlines()[-1])
    document["sampled_peak_rss_bytes"] = sampler.peak_bytes
    document["wall_seconds"] = elapsed
    return document


def render_section(result: dict, command: str) -> str:
    """Return the body of the Ingestion section of RESULTS.md."""
    peak = max(result["ru_maxrss_bytes"], result["sampled_peak_rss_bytes"])
    busy = result["conversion_seconds"] + result["validation_seconds"]
    verdict = "within" if peak < MEMORY_LIMIT_BYTES else "ABOVE"
    gib = 1024**3
    return f"""
Command: `{command}`. Measured on {result['measured_at']}; machine: {describe_machine()}.

A generated CSV event log of {result['file_bytes'] / 1e9:.2f} GB ({result['input_rows']:,} rows, nine columns,
{DUPLICATE_SHARE:.1%} exact duplicates, {BAD_AMOUNT_SHARE:.2%} unreadable amounts) goes through the
conversion to the data contract and the Great Expectations validation, in one child process.

| measure | value |
|---|---|
| input rows | {result['input_rows']:,} |
| accepted / quarantined / duplicates | {result['accepted_rows']:,} / {result['conversion_quarantined_rows'] + result['validation_quarantined_rows']:,} / {result['duplicate_rows']:,} |
| conversion | {result['conversion_seconds']:.0f} s, {result['input_rows'] / result['conversion_seconds']:,.0f} rows/s |
| validation | {result['validation_seconds']:.0f} s, {result['converted_rows'] / result['validation_seconds']:,.0f} rows/s |
| conversion + validation | {busy:.0f} s, **{result['input_rows'] / busy:,.0f} rows/s** |
| CPU time of the process (user + system, imports included) | {result['cpu_seconds']:.0f} s, {result['input_rows'] / result['cpu_seconds']:,.0f} rows per CPU second |
| peak resident memory | **{peak / 1e9:.2f} GB** = {peak / gib:.2f} GiB, {verdict} the 2 GB target (kernel peak {result['ru_maxrss_bytes'] / gib:.2f} GiB, sampled every {SAMPLE_SECONDS} s {result['sampled_peak_rss_bytes'] / gib:.2f} GiB) |
| load average before / after (other work on the machine) | {result['load_before']:.1f} / {result['load_after']:.1f} |

Memory stays bounded because the conversion reads {CONVERSION_CHUNK_ROWS:,} rows at a time and the validation
{VALIDATION_CHUNK_ROWS:,}, and duplicate detection keeps one 8-byte hash per distinct row. Times depend on
other work on the machine, which the load averages show.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="Size of the generated CSV file in GB (1e9 bytes).")
    parser.add_argument("--no-write", action="store_true", help="Print the section instead of updating RESULTS.md.")
    parser.add_argument("--child", nargs=2, metavar=("CSV", "HOME"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_child(Path(arguments.child[0]), Path(arguments.child[1]))
        return

    folder = Path(tempfile.mkdtemp(prefix="ingest-benchmark-"))
    try:
        csv_path = folder / "events.csv"
        started = time.perf_counter()
        rows = generate_events(csv_path, int(arguments.size_gb * 1e9))
        print(f"Generated {csv_path.stat().st_size / 1e9:.2f} GB, {rows:,} rows in {time.perf_counter() - started:.0f} s")
        load_before = os.getloadavg()[0]
        result = measure(csv_path, folder / "home")
        result.update(
            file_bytes=csv_path.stat().st_size,
            load_before=load_before,
            load_after=os.getloadavg()[0],
            measured_at=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    command = COMMAND + ("" if arguments.size_gb == 1.0 else f" --size-gb {arguments.size_gb}")
    section = render_section(result, command)
    print(section)
    if not arguments.no_write:
        print(f"Updated {replace_section(SECTION_TITLE, section)}")


if __name__ == "__main__":
    main()
