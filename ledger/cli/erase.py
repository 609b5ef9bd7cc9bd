"""``qp-ledger erase``: erase an event's words for good, leaving every proof intact."""

from __future__ import annotations

import click

from ledger.cli.common import actor_option, database_url_option, emit_json, json_option
from ledger.service.application import QPLedger, default_actor


@click.command(
    "erase", short_help="Erase an event's words (a reason, an appeal's); proofs stay intact."
)
@click.argument("event_id")
@click.option(
    "--field",
    required=True,
    help="The field whose words are erased: reason, or an appeal's grounds, (evidence) text "
    "or determination.",
)
@click.option("--why", required=True, help="Why the words are erased (kept with the erasure).")
@actor_option
@json_option("Print the erasure as JSON.")
@database_url_option
def erase(
    event_id: str,
    field: str,
    why: str,
    actor: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Erase the words of EVENT_ID's field (UK GDPR), for the Board.

    Only words are erasable (an event's reason; an appeal's grounds, its
    evidence's text, the Board's determination: their event ids are in
    `qp-ledger issued CCG --json`), never a fact a decision reads, and only
    those of events recorded since words were sealed. The log keeps their
    salted digest, so every proof, checkpoint, bundle and decision stays as
    it was; the erasure is an event of its own, and history (or the appeal)
    shows the field as erased, by whom, when and why. Over HTTP: POST /erasures, Board token.

    Example:

    \b
        qp-ledger erase 14b3e526-3e65-5264-a8d6-73fea82c5ad5 --field reason \\
            --why "the author asked for it to be erased"
    """
    ledger = QPLedger(database_url)
    try:
        erased = ledger.erase(event_id, field, why, actor or default_actor())
    finally:
        ledger.close()
    if as_json:
        emit_json(erased, indent=None)
        return
    click.echo(
        f"erased the {erased['field']} of event {erased['event_id']} "
        f"(erasure at position {erased['position']}, {erased['erased_at']}, "
        f"by {erased['erased_by']}): {erased['why']}"
    )
