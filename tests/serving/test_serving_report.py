"""The "Serving" section of the results page, written from a benchmark result."""

from benchmarks.results_page import replace_section
from benchmarks.serving_report import SECTION_TITLE, aim_verdicts, serving_section


def _cell(variant: str, users: int, clients: int, p99: float) -> dict:
    return {"variant": variant, "users": users, "clients": clients, "requests": 100, "errors": 0,
            "duration_s": 4.0, "p50_ms": p99 / 2, "p99_ms": p99, "throughput_rps": 25.0, "error_samples": [],
            "server_cpu_ms": p99 / 10}


def _result(load_errors: int = 0, growth: float = 1.5) -> dict:
    matrix = []
    for users, clients, ours, plain, feast in [(1, 1, 30.0, 1.5, 6.0), (100, 32, 900.0, 80.0, 70.0)]:
        matrix += [_cell("predict", users, clients, ours), _cell("predict_no_reasons", users, clients, plain),
                   _cell("feast_serve", users, clients, feast)]
    floor = [{"step": step, "users": users, "calls": 10, "p50_ms": 0.2, "p99_ms": 0.4}
             for users in (1, 100) for step in ("read_and_forward", "predict_no_reasons", "predict")]
    return {
        "settings": {"profile": "local", "home": "/tmp/home", "users_in_store": 136},
        "model": {"name": "user_retention", "version": "3", "feature_service": "user_retention_v1",
                  "fast_path": "NumpyMLP", "explains": True, "online_store": "sqlite"},
        "options": {"cell_seconds": 4.0},
        "floor": floor,
        "matrix": matrix,
        "load": {"clients": 32, "requests": 9000, "errors": load_errors, "duration_s": 120.0, "p50_ms": 20.0,
                 "p99_ms": 60.0, "throughput_rps": 75.0, "rss_start_mib": 700.0, "rss_end_mib": 710.5,
                 "rss_max_mib": 712.0, "rss_growth_percent": growth},
        "cores": 2,
        "load_average_before": [1.0, 1.0, 1.0],
        "load_average_after": [2.0, 1.5, 1.0],
    }


def _flat(text: str) -> str:
    """Join the wrapped lines of prose, so that phrases can be searched; tables keep their rows."""
    return " ".join(text.split())


def test_verdicts_compare_with_feast():
    verdicts = aim_verdicts(_result())
    assert verdicts["predict"]["faster_than_feast_cells"] == 0
    assert verdicts["predict_no_reasons"]["faster_than_feast_cells"] == 1
    assert verdicts["predict_no_reasons"]["slower_cells"] == [(100, 32)]
    assert verdicts["predict_no_reasons"]["single_user_p99_ms"] == 1.5


def test_section_shows_aims():
    text = _flat(serving_section(_result(), "retention benchmark serving", "test machine, 2 cores"))
    assert "| 1 | 1 | 15.00 / 30.00, 25/s, CPU 3.00 | 0.75 / 1.50, 25/s, CPU 0.15 | 3.00 / 6.00, 25/s, CPU 0.60 |" in text
    assert "p99 1.50 ms, within the 2 ms aim" in text
    assert "p99 30.00 ms, above the 2 ms aim" in text
    assert "(not in: 100 users × 32 clients)" in text


def test_breakdown_names_costs():
    text = _flat(serving_section(_result(), "c", "m"))
    assert "over HTTP 0.75 ms" in text
    assert "0.15 ms for predict without reasons, 3.00 ms with reasons, 0.60 ms for feast serve" in text
    assert "load average of 1.0 on 2 cores" in text


def test_section_judges_load():
    assert "aim zero: met" in _flat(serving_section(_result(), "c", "m"))
    assert "aim zero: missed" in _flat(serving_section(_result(load_errors=3), "c", "m"))
    assert "growth +12.0 %** (aim under 10 %: missed)" in _flat(serving_section(_result(growth=12.0), "c", "m"))


def test_section_replaces_only_serving(tmp_path):
    page = tmp_path / "RESULTS.md"
    page.write_text("# Benchmark results\n\n## Models\n\nkept\n\n## Serving\n\nold numbers\n", encoding="utf-8")
    replace_section(SECTION_TITLE, serving_section(_result(), "c", "m"), page)
    text = page.read_text(encoding="utf-8")
    assert "## Models\n\nkept" in text
    assert "old numbers" not in text
    assert text.count("## Serving") == 1
