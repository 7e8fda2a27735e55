"""Data Docs that open offline: one self-contained HTML page of expectation suite results.

Great Expectations' own Data Docs pages load their stylesheets and scripts from a CDN, so they
render unstyled without network access. This page carries its CSS inline, has no scripts and
links to no other host.

Each call stores the given suite summaries as JSON under output_dir/suites/ and renders the
index from every stored summary. Pipeline stages that validate different tables at different
times (events, users, features) therefore add to the same index.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Iterable

from monitoring.summaries import ExpectationSummary, SuiteSummary

INDEX_NAME = "index.html"
SUITES_DIR_NAME = "suites"
_SUITE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; }
h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; padding-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin-top: .8rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f5; }
tr.failed td { background: #fff1f0; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .6rem; font-weight: 600; font-size: .85rem; }
.passed { background: #e3f6e8; color: #136c2e; }
.failed-badge { background: #fde2e1; color: #a1160a; }
.meta { color: #555; font-size: .9rem; }
code { font-size: .85rem; }
"""


def write_data_docs(results: Iterable[SuiteSummary | dict], output_dir: Path) -> Path:
    """Store the suite summaries under output_dir and write the index page of all stored suites.

    Returns the path of the index page. A summary replaces an earlier one of the same suite.
    """
    output_dir = Path(output_dir)
    suites_dir = output_dir / SUITES_DIR_NAME
    suites_dir.mkdir(parents=True, exist_ok=True)

    for result in results:
        summary = result if isinstance(result, SuiteSummary) else SuiteSummary.from_dict(result)
        if not _SUITE_NAME_PATTERN.match(summary.suite):
            raise ValueError(
                f"invalid suite name {summary.suite!r} for Data Docs: use letters, digits, '_', '.' or '-'"
            )
        _write_atomically(suites_dir / f"{summary.suite}.json", json.dumps(summary.to_dict(), indent=2))

    summaries = [
        SuiteSummary.from_dict(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(suites_dir.glob("*.json"))
    ]
    index_path = output_dir / INDEX_NAME
    _write_atomically(index_path, render_index(summaries))
    return index_path


def render_index(summaries: list[SuiteSummary]) -> str:
    """Render the index page of the given suite summaries as one HTML document."""
    contents = "".join(
        f'<li><a href="#suite-{_escape(summary.suite)}">{_escape(summary.suite)}</a> '
        f"{_status_badge(summary.success)}</li>"
        for summary in summaries
    )
    sections = "".join(_render_suite(summary) for summary in summaries)
    if not summaries:
        sections = "<p>No suite has been validated yet.</p>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Data quality: expectation suite results</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        "<h1>Data quality: expectation suite results</h1>\n"
        f"<ul>{contents}</ul>\n{sections}\n</body>\n</html>\n"
    )


def _render_suite(summary: SuiteSummary) -> str:
    rows = "".join(_render_expectation(expectation) for expectation in summary.expectations)
    return (
        f'<h2 id="suite-{_escape(summary.suite)}">Suite {_escape(summary.suite)} {_status_badge(summary.success)}</h2>\n'
        f'<p class="meta">Validated at {_escape(summary.validated_at)} on {summary.row_count:,} rows. '
        f"{summary.successful_expectations} of {summary.evaluated_expectations} expectations passed.</p>\n"
        "<table>\n<thead><tr>"
        "<th>Rule</th><th>Expectation</th><th>Column</th><th>Level</th><th>Requirement</th><th>Success</th>"
        "<th>Checked values</th><th>Unexpected count</th><th>Observed value</th>"
        "<th>Sample of unexpected values</th><th>Error</th>"
        "</tr></thead>\n<tbody>\n"
        f"{rows}</tbody>\n</table>\n"
    )


def _render_expectation(expectation: ExpectationSummary) -> str:
    row_class = "" if expectation.success else ' class="failed"'
    sample = ", ".join(f"<code>{_escape(value)}</code>" for value in expectation.unexpected_sample)
    cells = [
        f"<code>{_escape(expectation.rule)}</code>",
        _escape(expectation.expectation),
        _escape(expectation.column or ""),
        _escape(expectation.level),
        _escape(expectation.requirement),
        _status_badge(expectation.success),
        _format_count(expectation.element_count),
        _format_count(expectation.unexpected_count),
        _escape(expectation.observed_value or ""),
        sample,
        _escape(expectation.exception or ""),
    ]
    return f"<tr{row_class}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>\n"


def _status_badge(success: bool) -> str:
    if success:
        return '<span class="badge passed">passed</span>'
    return '<span class="badge failed-badge">failed</span>'


def _format_count(count: int | None) -> str:
    return "" if count is None else f"{count:,}"


def _escape(text: str) -> str:
    return html.escape(str(text), quote=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
