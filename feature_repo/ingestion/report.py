"""Row accounting of one conversion of source files to the data contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FileCounts:
    path: str
    input_rows: int = 0
    converted_rows: int = 0
    quarantined_rows: int = 0
    duplicate_rows: int = 0


@dataclass
class ConversionReport:
    """Counts of a conversion: input_rows == converted_rows + quarantined_rows + duplicate_rows."""

    input_rows: int = 0
    converted_rows: int = 0
    quarantined_rows: int = 0
    duplicate_rows: int = 0
    # Event types outside the mapping, kept as "other" (or quarantined in strict mode), by name.
    unknown_event_types: dict[str, int] = field(default_factory=dict)
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    files: list[FileCounts] = field(default_factory=list)

    def check_balance(self) -> None:
        total = self.converted_rows + self.quarantined_rows + self.duplicate_rows
        if total != self.input_rows:
            raise AssertionError(
                f"row accounting is off: {self.input_rows} input rows but {self.converted_rows} converted "
                f"+ {self.quarantined_rows} quarantined + {self.duplicate_rows} duplicates = {total}"
            )

    def to_dict(self) -> dict:
        return asdict(self)
