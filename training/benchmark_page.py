"""The "Models" section of the benchmark page (benchmarks/RESULTS.md), written from a BenchmarkResult.

Only that section is replaced: it runs from its "## Models" heading to the next "## " heading.
Other sections, including hand-written analysis under another heading, stay as they are.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path

import psutil
import torch

from benchmarks.results_page import replace_section
from retention.settings import PROJECT_ROOT, Settings
from training.benchmark import TABLE_METRICS, BenchmarkResult

RESULTS_PAGE = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
SECTION_HEADING = "## Models"
# Candidates built on PyTorch; the section's last line compares the best of them with LightGBM.
PYTORCH_MODELS = ("mlp", "cnn_lstm", "transformer_pretrained", "transformer_scratch")
METRIC_TITLES = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "log_loss": "log loss",
    "brier_score": "Brier",
    "expected_calibration_error": "ECE",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "top_decile_lift": "top-decile lift",
    "fit_seconds": "fit time (s)",
}


def machine_description() -> str:
    """Describe the machine: cores, memory, GPU, library versions and the current load.

    The load average shows how much other processes slowed the fit times down.
    """
    memory_gib = psutil.virtual_memory().total / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), {memory_gib:.0f} GiB memory, {gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, LightGBM {version('lightgbm')}, "
        f"PyMC-Marketing {version('pymc-marketing')}; 1-minute load average {os.getloadavg()[0]:.1f} "
        "when the table was written"
    )


def models_section(result: BenchmarkResult, settings: Settings, command: str, machine: str) -> str:
    """Return the Markdown of the "Models" section: protocol, windows, table and the PyTorch comparison."""
    summary = result.summary()
    columns = [*TABLE_METRICS, "fit_seconds"]
    lines = [
        SECTION_HEADING,
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}.",
        "",
        _protocol_text(result, settings),
        "",
        "| model | " + " | ".join(METRIC_TITLES[name] for name in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for model in result.models:
        cells = [_cell(summary[model][name], 1 if name == "fit_seconds" else 4) for name in columns]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", _window_table(result), "", _pytorch_comparison(summary), ""]
    return "\n".join(lines)


def write_models_section(section: str, page: Path = RESULTS_PAGE) -> None:
    """Replace the "Models" section of `page`, or append it; create the page with its header if absent."""
    body = section.removeprefix(SECTION_HEADING).lstrip("\n")
    replace_section(SECTION_HEADING.removeprefix("## "), body, page)


def _protocol_text(result: BenchmarkResult, settings: Settings) -> str:
    window = settings.retention
    split = settings.split
    return (
        f"Label: a purchase within {window.horizon_days} days after the snapshot; snapshots every "
        f"{window.snapshot_every_days} days. Each origin trains on the oldest snapshots, validates on the next "
        f"{split.validation_snapshots} and tests on the {split.test_snapshots} after those, with a gap of "
        f"ceil({window.horizon_days} / {window.snapshot_every_days}) snapshots before validation and before test. "
        f"Origin k moves all windows {split.test_snapshots} × k snapshots earlier. Cells are the mean ± sample "
        f"standard deviation of the test-window metric over {_count(len(result.seeds), 'seed')} "
        f"({', '.join(map(str, result.seeds))}) × {_count(result.origins, 'origin')}. Precision, recall, F1 and "
        "accuracy use the threshold with the highest F1 on validation; ECE uses 10 equal-width bins; the top-decile "
        "lift is the positive rate of the 10 % highest scores over the overall positive rate. "
        + _calibration_text(settings.training.calibration)
        + _single_fit_text(result)
    )


def _calibration_text(method: str) -> str:
    weighted = "LightGBM, the MLP and the sequence models weight the positive class"
    if method == "none":
        return f'{weighted}, and their probabilities are not calibrated ([training] calibration = "none").'
    return f'{weighted} and then calibrate their probabilities on validation ([training] calibration = "{method}").'


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _single_fit_text(result: BenchmarkResult) -> str:
    single = [model for model in result.models if len({run.seed for run in result.runs if run.model == model}) < len(result.seeds)]
    if not single:
        return ""
    return f" {', '.join(single)} ignore the seed, so they are fitted once per origin."


def _window_table(result: BenchmarkResult) -> str:
    lines = ["| origin | train | validation | test | test rows |", "|---|---|---|---|---|"]
    for origin, windows in enumerate(result.windows):
        spans = [f"{windows[name]['start'][:10]} to {windows[name]['end'][:10]}" for name in ("train", "validation", "test")]
        lines.append(f"| {origin} | " + " | ".join(spans) + f" | {windows['test']['rows']} |")
    return "\n".join(lines)


def _pytorch_comparison(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    if "lightgbm" not in summary:
        return "LightGBM was not part of this run, so the PyTorch models are not compared with it."
    pytorch = {model: summary[model]["roc_auc"]["mean"] for model in summary if model in PYTORCH_MODELS}
    if not pytorch:
        return "No PyTorch model was part of this run."
    best = max(pytorch, key=pytorch.get)
    lightgbm = summary["lightgbm"]["roc_auc"]["mean"]
    verdict = "at least" if pytorch[best] >= lightgbm else "below"
    return (
        f"Best PyTorch model: {best}, mean test ROC-AUC {pytorch[best]:.4f}, {verdict} LightGBM's {lightgbm:.4f} "
        f"(difference {pytorch[best] - lightgbm:+.4f})."
    )


def _cell(statistics: dict[str, float], digits: int = 4) -> str:
    if statistics["runs"] == 0:
        return "n/a"
    if statistics["runs"] == 1:
        # One run has no spread to show.
        return f"{statistics['mean']:.{digits}f}"
    return f"{statistics['mean']:.{digits}f} ± {statistics['std']:.{digits}f}"
