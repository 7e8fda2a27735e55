"""The "Serving" section of benchmarks/RESULTS.md, written from the numbers of one benchmark run."""

from __future__ import annotations

import textwrap
from datetime import date
from typing import Any

SECTION_TITLE = "Serving"
SINGLE_USER_P99_AIM_MS = 2.0
MAX_RSS_GROWTH_PERCENT = 10.0
VARIANT_TITLES = {
    "predict": "predict (with reasons)",
    "predict_no_reasons": "predict, explain false",
    "feast_serve": "feast serve (features only)",
}


def serving_section(result: dict[str, Any], command: str, machine: str) -> str:
    """Return the markdown body of the section: set-up, HTTP matrix, floor, aims and sustained load."""
    parts = [
        _wrap(_setup(result, command, machine)),
        "### HTTP: p50 / p99 latency in ms, throughput in requests/s, server CPU in ms per request\n\n"
        + _matrix_table(result["matrix"]),
        "### In-process floor, no HTTP: p50 / p99 in ms\n\n" + _floor_table(result["floor"]),
        "### Aims\n\n" + _aims(result) + "\n\n" + _wrap(_time_breakdown(result)),
        "### Sustained load\n\n" + _wrap(_load(result["load"])),
    ]
    return "\n\n".join(parts)


def _setup(result: dict[str, Any], command: str, machine: str) -> str:
    model, options = result["model"], result["options"]
    before, after = result["load_average_before"], result["load_average_after"]
    reasons = "the model explains, so predict returns reasons" if model["explains"] else "the model cannot explain"
    return (
        f"Command: `{command}` ({date.today().isoformat()}). Machine: {machine}. Load average (1, 5, 15 min) "
        f"before {before} and after {after}: other work shares the cores.\n\n"
        f"Champion {model['name']} version {model['version']} on feature service {model['feature_service']}, "
        f"{model['online_store']} online store with {result['settings']['users_in_store']} users "
        f"(profile {result['settings']['profile']}); NumPy fast path: {model['fast_path']}; {reasons}. "
        "One BentoML worker; `feast serve` with one worker on the same store and feature service. "
        "The load generator (benchmarks/http_load.py: asyncio, keep-alive connections, each client sends "
        "its next request when the previous response arrives) runs on the same cores. "
        f"Each cell: 0.5 s warm-up, then {options['cell_seconds']:g} s measured."
    )


def _matrix_table(matrix: list[dict]) -> str:
    cells = {(row["variant"], row["users"], row["clients"]): row for row in matrix}
    keys = sorted({(row["users"], row["clients"]) for row in matrix})
    variants = [variant for variant in VARIANT_TITLES if any(row["variant"] == variant for row in matrix)]
    lines = [
        "| users per request | clients | " + " | ".join(VARIANT_TITLES[v] for v in variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for users, clients in keys:
        row = [str(users), str(clients)]
        for variant in variants:
            cell = cells[(variant, users, clients)]
            errors = f", {cell['errors']} errors" if cell["errors"] else ""
            cpu = f", CPU {cell['server_cpu_ms']:.2f}" if "server_cpu_ms" in cell else ""
            row.append(f"{cell['p50_ms']:.2f} / {cell['p99_ms']:.2f}, {cell['throughput_rps']:.0f}/s{cpu}{errors}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _floor_table(floor: list[dict]) -> str:
    cells = {(row["step"], row["users"]): row for row in floor}
    lines = [
        "| users | online read + forward pass | predict, explain false | predict with reasons |",
        "|---|---|---|---|",
    ]
    for users in sorted({row["users"] for row in floor}):
        values = [cells[(step, users)] for step in ("read_and_forward", "predict_no_reasons", "predict")]
        lines.append(f"| {users} | " + " | ".join(f"{v['p50_ms']:.3f} / {v['p99_ms']:.3f}" for v in values) + " |")
    return "\n".join(lines)


def aim_verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """Compare the p99 of each predict variant with feast serve per cell, and the single-user p99 with 2 ms."""
    cells = {(row["variant"], row["users"], row["clients"]): row for row in result["matrix"]}
    verdicts: dict[str, Any] = {}
    for variant in ("predict", "predict_no_reasons"):
        keys = [(users, clients) for (name, users, clients) in cells if name == variant]
        faster = [key for key in keys if cells[(variant, *key)]["p99_ms"] < cells[("feast_serve", *key)]["p99_ms"]]
        verdicts[variant] = {
            "faster_than_feast_cells": len(faster),
            "cells": len(keys),
            "slower_cells": sorted(set(keys) - set(faster)),
            "single_user_p99_ms": cells[(variant, 1, 1)]["p99_ms"] if (variant, 1, 1) in cells else None,
        }
    return verdicts


def _aims(result: dict[str, Any]) -> str:
    lines = []
    for variant, verdict in aim_verdicts(result).items():
        title = VARIANT_TITLES[variant]
        slower = ", ".join(f"{users} users × {clients} clients" for users, clients in verdict["slower_cells"])
        p99 = verdict["single_user_p99_ms"]
        lines.append(_wrap(
            f"- {title}: p99 below feast serve's in {verdict['faster_than_feast_cells']} of {verdict['cells']} cells"
            + (f" (not in: {slower})" if slower else "")
            + f"; single user, one client: p99 {p99:.2f} ms, "
            + ("within" if p99 < SINGLE_USER_P99_AIM_MS else "above")
            + f" the {SINGLE_USER_P99_AIM_MS:g} ms aim.",
            indent="  ",
        ))
    return "\n".join(lines)


def _time_breakdown(result: dict[str, Any]) -> str:
    """Return where the single-user time goes: HTTP handling, reasons and the other work on the machine."""
    cells = {(row["variant"], row["users"], row["clients"]): row for row in result["matrix"]}
    floor = {(row["step"], row["users"]): row for row in result["floor"]}
    plain, explained, feast = (cells.get((v, 1, 1)) for v in ("predict_no_reasons", "predict", "feast_serve"))
    in_process, with_reasons = floor.get(("predict_no_reasons", 1)), floor.get(("predict", 1))
    if not (plain and explained and feast and in_process and with_reasons):
        return ""
    lines = [
        f"Where a single-user request with one client spends its time: in this process, predict without "
        f"reasons takes {in_process['p50_ms']:.2f} ms at p50 and over HTTP {plain['p50_ms']:.2f} ms, so request "
        "handling (BentoML's middleware, parsing, the event loop and the client on the same cores) costs "
        f"the difference.",
        f"Reasons raise the in-process time to {with_reasons['p50_ms']:.2f} ms at p50: the model computes its "
        "explanation per request, which costs more than the prediction.",
    ]
    if "server_cpu_ms" in plain and "server_cpu_ms" in feast:
        lines.append(
            f"CPU per request of the server process tree, which depends far less than latency on other work: "
            f"{plain['server_cpu_ms']:.2f} ms for predict without reasons, {explained['server_cpu_ms']:.2f} ms with "
            f"reasons, {feast['server_cpu_ms']:.2f} ms for feast serve."
        )
    load = result["load_average_before"][0]
    cores = result.get("cores")
    if cores:
        lines.append(
            f"A 1-minute load average of {load:.1f} on {cores} cores means that runnable threads often wait for "
            "a core, which lengthens the p99 values most."
        )
    return " ".join(lines)


def _load(load: dict[str, Any]) -> str:
    errors_ok = "met" if load["errors"] == 0 else "missed"
    growth_ok = "met" if load["rss_growth_percent"] < MAX_RSS_GROWTH_PERCENT else "missed"
    return (
        f"{load['clients']} clients, one user per request (with reasons), {load['duration_s']:.0f} s: "
        f"{load['requests']:,} answered requests, **{load['errors']} errors** (aim zero: {errors_ok}), "
        f"{load['throughput_rps']:.0f} requests/s, p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms. "
        f"Resident memory of the service's process tree: {load['rss_start_mib']} MiB at the start, "
        f"{load['rss_end_mib']} MiB at the end (max {load['rss_max_mib']} MiB), "
        f"**growth {load['rss_growth_percent']:+.1f} %** (aim under {MAX_RSS_GROWTH_PERCENT:g} %: {growth_ok})."
    )


def _wrap(text: str, indent: str = "") -> str:
    """Wrap each paragraph of `text` at 100 characters, as the other sections of the page are."""
    return "\n\n".join(
        textwrap.fill(paragraph, width=100, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)
        for paragraph in text.split("\n\n")
    )
