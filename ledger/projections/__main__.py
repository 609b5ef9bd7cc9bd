"""``python -m ledger.projections``: the projection commands without the rest of the CLI.

The same click commands as ``qp-ledger project`` and ``qp-ledger projections``;
handy for a projector container and used by the fault tests to start and kill
projector processes.
"""

from __future__ import annotations

import click

from ledger.cli.projections import COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """QP Ledger read models: project, rebuild, check, status."""


for command in COMMANDS:
    main.add_command(command)

if __name__ == "__main__":
    main()
