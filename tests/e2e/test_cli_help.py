"""Every command's help is complete: option help, an example, uncut summaries (issue 9, item 6).

The command tree is walked, so a command or option added later without help
fails here. No database is touched: this is the CLI's own text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ledger.cli.main import main

SCRIPT = shutil.which("qp-ledger", path=str(Path(sys.executable).parent)) or "qp-ledger"


def commands(
    group: click.Group = main, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


ALL = list(commands())


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"decision", "issue", "appeal lodge", "tokens create", "proof inclusion"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_option_has_help_and_every_command_an_example(
    path: tuple[str, ...], command: click.Command
) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"qp-ledger {' '.join(path)} {param.opts[0]} has no help text"
    assert command.help and "Example:" in command.help, f"qp-ledger {' '.join(path)}"
    # click's \b keeps the example's lines as they are written.
    assert re.search(r"Example:\s*\n\s*\x08\n\s+qp-ledger ", command.help) or re.search(
        r"Example:\s*\n\s*\x08\n\s+\S+=\$\(qp-ledger ", command.help
    ), command.help


def _help(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QP_LEDGER_")}
    env["COLUMNS"] = "80"  # the narrowest terminal we promise
    result = subprocess.run(
        [SCRIPT, *args, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "group", [(), *[p for p, c in ALL if isinstance(c, click.Group)]], ids=lambda p: " ".join(p)
)
def test_no_summary_is_cut_off_at_80_columns(group: tuple[str, ...]) -> None:
    text = _help(*group)
    listed = text.split("Commands:\n", 1)[1]
    flat = " ".join(listed.split())
    assert "..." not in listed, listed
    node: click.Command = main
    for name in group:
        assert isinstance(node, click.Group)
        node = node.commands[name]
    assert isinstance(node, click.Group)
    for name, command in node.commands.items():
        summary = " ".join(command.get_short_help_str(limit=10_000).split())
        assert f"{name} {summary}" in flat, (name, summary)
