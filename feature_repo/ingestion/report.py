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
    # Converted event rows by contract event type; empty for user attribute files.
    event_types: dict[str, int] = field(default_factory=dict)
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    files: list[FileCounts] = field(default_factory=list)
    # UTC range of the converted event times, as ISO 8601 text; None when nothing was converted.
    first_event_time: str | None = None
    last_event_time: str | None = None
    # The first few quarantine reasons, each with its file and line, for a summary on screen.
    quarantine_examples: list[str] = field(default_factory=list)

    def check_balance(self) -> None:
        total = self.converted_rows + self.quarantined_rows + self.duplicate_rows
        if total != self.input_rows:
            raise AssertionError(
                f"row accounting is off: {self.input_rows} input rows but {self.converted_rows} converted "
                f"+ {self.quarantined_rows} quarantined + {self.duplicate_rows} duplicates = {total}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """Return the counts as a few lines of text for a terminal or a log."""
        lines = [
            f"{self.input_rows:,} input rows: {self.converted_rows:,} converted, "
            f"{self.quarantined_rows:,} quarantined, {self.duplicate_rows:,} duplicates"
        ]
        if self.first_event_time is not None:
            lines.append(f"event times from {self.first_event_time} to {self.last_event_time}")
        for rule, count in sorted(self.quarantine_by_rule.items(), key=lambda item: -item[1]):
            lines.append(f"quarantined by {rule}: {count:,}")
        for name, count in sorted(self.unknown_event_types.items(), key=lambda item: -item[1]):
            lines.append(f"rows of unknown event type {name!r}: {count:,}")
        for counts in self.files:
            if counts.input_rows == 0:
                lines.append(f"{counts.path}: no rows")
        lines.extend(f"example: {example}" for example in self.quarantine_examples)
        return "\n".join(lines)
