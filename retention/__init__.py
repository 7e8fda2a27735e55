"""Command line, settings and shared errors of the user retention platform."""
