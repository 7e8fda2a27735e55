"""The `retention` command line."""

import click


@click.group()
def main() -> None:
    """User retention platform: ingest events, build features, train, serve and monitor."""


if __name__ == "__main__":
    main()
