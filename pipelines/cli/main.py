"""`seslake`: the argparse entry point. Each command group's module registers its commands."""

from __future__ import annotations

import argparse
import sys
import warnings

from pipelines.cli import CommandError, archive, handoff, report, threads

DESCRIPTION = "A multi-tenant SES mail archive as a Parquet lake, threads, a DuckDB warehouse and a live hand-off."


def main(argv: list[str] | None = None) -> int:
    # backfill_policy is marked beta in this Dagster release; the notice is noise on a terminal.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    parser = argparse.ArgumentParser(prog="seslake", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (archive, report, threads, handoff):
        group.add_parsers(commands)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"seslake: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
