"""Conversion of any shop's event log to the data contract."""
