"""Subcommands of the `retention` command line, one module each, registered in retention.cli."""
