"""Mapping loader: defaults, the case mappings, the examples in docs/mapping.md, and every kind of error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from feature_repo.ingestion.mapping import SourceMapping, load_mapping, normalize_event_type, parse_mapping
from retention.errors import ConfigurationError
from tests.ingestion.conftest import CASES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"


def error_of(document: object) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_mapping(document, origin="test.yaml")
    return str(caught.value)


def test_defaults():
    mapping = parse_mapping(None)
    assert mapping == SourceMapping(origin="<mapping>")
    assert mapping.csv.encoding == "utf-8"
    assert mapping.null_markers == ("NULL", "null")
    assert mapping.timestamps.time_zone == "UTC"
    assert mapping.event_types.unknown == "other"
    assert mapping.refunds.event_types == ("refund",)
    assert not mapping.privacy.pseudonymize_user_ids


@pytest.mark.parametrize("path", sorted(CASES.glob("*/*.yaml")), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_case_mappings_load(path: Path):
    mapping = load_mapping(path)
    assert mapping.origin == str(path)


def test_docs_examples_load():
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        parse_mapping(yaml.safe_load(block), origin="docs/mapping.md")


def test_seed_mapping_values():
    mapping = load_mapping(CASES / "seed_format" / "mapping.yaml")
    assert mapping.columns.user_id == "用户ID"
    assert mapping.event_types.values["购买"] == "purchase"
    assert mapping.amount.json_key == "金额"
    assert mapping.columns.is_set("properties")
    assert not mapping.columns.is_set("category")


def test_event_type_keys_normalized():
    mapping = parse_mapping({"event_types": {"values": {" Buy ": "purchase", 1: "view"}}})
    assert mapping.event_types.values == {"buy": "purchase", "1": "view"}
    assert normalize_event_type(" PURCHASE ") == "purchase"


def test_unknown_key_lists_valid_keys():
    message = error_of({"csv": {"delimter": ";"}})
    assert "test.yaml" in message
    assert "unknown key 'csv.delimter'" in message
    assert "Valid keys there: delimiter, decimal, thousands, quote_char, encoding." in message


def test_unknown_key_in_list_item():
    message = error_of({"refunds": {"rules": [{"column": "InvoiceNo", "prefix": "C", "type": "refund"}]}})
    assert "unknown key 'refunds.rules.0.type'" in message
    assert "column, prefix, event_type" in message


def test_unknown_top_level_section():
    message = error_of({"colums": {"user_id": "id"}})
    assert "unknown key 'colums'" in message
    assert "columns" in message


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter: ';;' must be exactly one character"),
        ({"csv": {"decimal": ","}}, "decimal ',' equals the delimiter"),
        ({"csv": {"decimal": "·"}}, "csv.decimal"),
        ({"csv": {"encoding": "utf-9"}}, "unknown encoding 'utf-9'"),
        ({"timestamps": {"time_zone": "Mars/Olympus"}}, "unknown time zone 'Mars/Olympus'"),
        ({"timestamps": {"format": "%d/%m/%Q"}}, "not a valid strftime pattern"),
        ({"timestamps": {"format": "%d/%m/%Y", "day_first": True}}, "set either format or day_first"),
        ({"timestamps": {"ambiguous": "guess"}}, "timestamps.ambiguous"),
        ({"columns": {"user_id": " "}}, "columns.user_id: a column name must not be empty"),
        ({"columns": {"amount": "Sales"}}, "set the amount column as `amount.column`"),
        ({"columns": {"user_id": 7}}, "Quote the value in YAML"),
        ({"null_markers": [None]}, "Quote the value in YAML"),
        ({"event_types": {"values": {True: "view"}}}, "read as a YAML keyword"),
        ({"event_types": {"values": {"buy": "Purchase!"}}}, "not a valid contract type"),
        ({"event_types": {"values": {"Buy": "purchase", "buy ": "view"}}}, "equals another key after trimming"),
        ({"event_types": {"qualifying": ["purchase"]}}, "[retention] qualifying_event_types"),
        ({"event_types": {"activity": ["view"]}}, "every accepted event counts as activity"),
        ({"event_types": {"unknown": "drop"}}, "event_types.unknown"),
        ({"event_types": {"constant": "purchase"}, "columns": {"event_type": "kind"}}, "not both"),
        ({"amount": {"column": "a", "json_key": "b"}}, "set only one of column, json_key and unit_price_column"),
        ({"amount": {"unit_price_column": "UnitPrice"}}, "needs quantity.column or quantity.json_key"),
        ({"refunds": {"rules": [{"column": "InvoiceNo", "prefix": ""}]}}, "prefix must not be empty"),
        (
            {"refunds": {"rules": [{"column": "InvoiceNo", "prefix": "C", "event_type": "cancel"}]}},
            "refunds.event_types",
        ),
        ({"refunds": {"rules": [{"prefix": "C"}]}}, "refunds.rules.0.column: this key is required"),
        ({"version": 2}, "version"),
        ({"origin": "elsewhere"}, "Unknown key 'origin'"),
        (["columns"], "must contain a YAML mapping"),
    ],
)
def test_invalid_values(document: object, expected: str):
    assert expected in error_of(document)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="mapping.yaml not found"):
        load_mapping(tmp_path / "mapping.yaml")


def test_invalid_yaml(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  user_id: [unclosed\n")
    with pytest.raises(ConfigurationError) as caught:
        load_mapping(path)
    assert "is not valid YAML" in str(caught.value)
    assert "line" in str(caught.value)


def test_duplicate_yaml_key(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  user_id: a\n  user_id: b\n")
    with pytest.raises(ConfigurationError, match="found the key 'user_id' twice"):
        load_mapping(path)


def test_mapping_not_utf8(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_bytes("columns:\n  user_id: Kundennr\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigurationError, match="not valid UTF-8"):
        load_mapping(path)


def test_strict_event_types_copy():
    mapping = parse_mapping({"event_types": {"values": {"buy": "purchase"}}})
    strict = mapping.with_strict_event_types()
    assert strict.event_types.unknown == "quarantine"
    assert strict.event_types.values == {"buy": "purchase"}
    assert mapping.event_types.unknown == "other"
