"""Progress prints plain lines when not on a terminal, and rewrites one line on a terminal."""

from __future__ import annotations

import io

from pipelines.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_tenth_and_at_the_end():
    out = io.StringIO()
    progress = Progress("parsing", 25, stream=out)
    for _ in range(25):
        progress.advance()
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"parsing: {n}/25" for n in (2, 4, 6, 8, 10, 12, 14, 16, 18,
                                                                                      20, 22, 24, 25)]  # fmt: skip
    assert "\r" not in out.getvalue()


def test_one_rewritten_line_on_a_terminal():
    out = Terminal()
    progress = Progress("replaying", 3, stream=out)
    for name in ("a", "b", "c"):
        progress.advance(note=name)
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "replaying: 3/3 c" in text


def test_generate_reports_each_tenant_and_the_events(tmp_path, capsys):
    from pipelines.cli.main import main

    assert main(["generate", "--dir", str(tmp_path / "bucket"), "--days", "1", "--tenants", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines[:3]] == [f"generating: {n}/3" for n in (1, 2, 3)]
    assert lines[3].startswith("generated ")


def test_pipeline_progress_records_print_while_the_block_runs():
    from pipelines.cli.progress import progress_lines
    from pipelines.progress import PROGRESS

    plain, terminal = io.StringIO(), Terminal()
    with progress_lines(plain):
        PROGRESS.info("events: %d of %d new files read", 1, 2)
        PROGRESS.info("events: %d of %d new files read", 2, 2)
    PROGRESS.info("after the block: not printed")
    assert plain.getvalue() == "  events: 1 of 2 new files read\n  events: 2 of 2 new files read\n"
    with progress_lines(terminal):
        PROGRESS.info("inbound mail: day %d", 1)
        PROGRESS.info("inbound mail: day %d", 2)
    text = terminal.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1 and "day 2" in text
