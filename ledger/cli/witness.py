"""``qp-ledger witness``: an auditor cosigns the ledger's checkpoints on their own machine.

The witness needs no database and no access to the ledger's machine: it
reads a checkpoint and a consistency proof that the auditor fetched (files
written by ``qp-ledger checkpoint`` / ``proof consistency``, or the API's
``/log/checkpoint`` and ``/log/consistency``, given as files or URLs), and
its own key and state file (``ledger.integrity.witness``). Exit codes as for
every command (docs/cli.md): 0 cosigned; 1 refused, with the reason (a fork,
a stale checkpoint, a bad signature or proof, an unknown origin, a state
file that cannot be trusted); 2 a usage error (an option, an unreadable
file or URL, a key that cannot be used).
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ledger.cli.common import LedgerGroup, Refused, emit_json, json_option, path_option, write_whole
from ledger.integrity.checkpoint import CheckpointError, parse_checkpoint_body, parse_verifier_key
from ledger.integrity.cosignature import (
    CosignatureError,
    Cosigner,
    parse_cosigner_key,
    split_note,
)
from ledger.integrity.witness import (
    ConsistencyProof,
    Witness,
    WitnessRefused,
    create_witness_key,
    load_proof,
    load_witness_key,
)

TOKEN_ENV = "QP_LEDGER_API_TOKEN"
F = TypeVar("F", bound=Callable[..., Any])
_MAX_DOWNLOAD = 1 << 20


@click.group("witness", cls=LedgerGroup, short_help="Cosign checkpoints as an independent witness.")
def witness() -> None:
    """Cosign the ledger's checkpoints with your own key, only if they extend the last one.

    A witness remembers, per log, the last checkpoint it cosigned (--state)
    and cosigns a new one only with a consistency proof from it: a ledger
    that rewrote its log cannot get the rewrite cosigned. Readers then
    require cosignatures: `qp-ledger verify --checkpoint F --witness-key W`.

    Example:

    \b
        qp-ledger witness keygen --key-file witness.key > witness.vkey
        qp-ledger witness cosign --key-file witness.key --state witness.state \\
            --log-key @verifier.key --checkpoint checkpoint.txt --proof consistency.json
    """


_key_file = click.option(
    "--key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's private key file (made by `witness keygen`).",
)


def _default_name() -> str:
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in ".-") or "localhost"
    return f"{host}/qp-ledger-witness"


@witness.command("keygen", short_help="Make a witness key; print its verifier key.")
@_key_file
@click.option(
    "--name",
    default=None,
    help="The witness's name, in every cosignature line: a schema-less URL such as "
    "auditor.example/witness (default: <hostname>/qp-ledger-witness).",
)
def keygen(key_file: Path, name: str | None) -> None:
    """Make a new witness key in --key-file (mode 0600) and print its verifier key.

    Give the verifier key to whoever should trust your cosignatures; keep
    the key file secret. An existing file is never replaced.

    Example:

    \b
        qp-ledger witness keygen --key-file witness.key --name auditor.example/w1
    """
    try:
        cosigner = create_witness_key(key_file, name or _default_name())
    except FileExistsError:
        raise click.UsageError(
            f"{key_file} exists already: a witness key is never replaced"
        ) from None
    except OSError as e:
        raise click.UsageError(f"cannot create {key_file}: {e.strerror or e}") from None
    except CosignatureError as e:
        raise click.UsageError(str(e)) from None
    click.echo(str(cosigner.key))


@witness.command("verifier-key", short_help="Print the verifier key of a witness key file.")
@_key_file
def verifier_key(key_file: Path) -> None:
    """Print the verifier key (what readers pass to --witness-key) of --key-file.

    Example:

    \b
        qp-ledger witness verifier-key --key-file witness.key > witness.vkey
    """
    click.echo(str(_cosigner(key_file).key))


def _cosigner(key_file: Path) -> Cosigner:
    try:
        return load_witness_key(key_file)
    except FileNotFoundError:
        raise click.UsageError(
            f"no witness key file at {key_file} (make one: witness keygen)"
        ) from None
    except (OSError, CosignatureError) as e:
        raise click.UsageError(f"--key-file {key_file}: {e}") from None


def _log_key(value: str) -> str:
    """The --log-key value: the ledger's verifier key, or @FILE holding it."""
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise click.UsageError(f"--log-key: cannot read {value[1:]}: {e}") from None
    try:
        return str(parse_verifier_key(value))
    except CheckpointError as e:
        raise click.UsageError(f"--log-key: {e}") from None


def _fetch(source: str, option: str, token: str | None) -> str:
    """A file's text, stdin (``-``), or what an http(s) URL answers (with the API token)."""
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data: bytes = response.read(_MAX_DOWNLOAD)
            return data.decode("utf-8")
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as e:
            raise click.UsageError(f"{option}: cannot fetch {source}: {e}") from None
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise click.UsageError(f"{option}: cannot read {source}: {e}") from None


def _note(text: str) -> tuple[str, dict[str, Any] | None]:
    """The checkpoint note in a note file or in a JSON document that holds one.

    ``qp-ledger checkpoint --json`` and ``GET /log/checkpoint.json`` put it in
    ``checkpoint``; an evidence bundle in ``checkpoint.note`` (the bundle is
    returned too, so the cosigned note can be put back into it).
    """
    if not text.lstrip().startswith("{"):
        return text, None
    try:
        document = json.loads(text)
        held = document["checkpoint"]
        note = held["note"] if isinstance(held, dict) else held
    except (ValueError, KeyError, TypeError, RecursionError):
        raise click.UsageError(
            "--checkpoint: a JSON document must hold the note in 'checkpoint' "
            "(or 'checkpoint.note', as a bundle does)"
        ) from None
    if not isinstance(note, str):
        raise click.UsageError("--checkpoint: the note in the JSON document is not text")
    return note, document if isinstance(held, dict) else None


def _proof_url(url: str, last: int, size: int) -> str:
    """The API's consistency URL, asked for the proof this witness needs when it names none."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    if "first" in query:
        return url
    extra = urllib.parse.urlencode({"first": last, "second": size})
    return urllib.parse.urlunsplit(
        parts._replace(query="&".join(q for q in (parts.query, extra) if q))
    )


@witness.command("cosign", short_help="Cosign a checkpoint if it extends the last one cosigned.")
@_key_file
@path_option("--state", required=True, help="The witness's state file (made on first use).")
@click.option(
    "--log-key",
    required=True,
    metavar="VKEY|@FILE",
    help="The ledger's published verifier key (`qp-ledger checkpoint --verifier-key`).",
)
@click.option("--origin", default=None, help="The log's origin (default: the log key's name).")
@click.option(
    "--checkpoint",
    "checkpoint_source",
    required=True,
    metavar="FILE|URL|-",
    help="The checkpoint: a note (`qp-ledger checkpoint`, GET /log/checkpoint) or a JSON "
    "document holding one (`checkpoint --json`, /log/checkpoint.json, a bundle).",
)
@click.option(
    "--proof",
    "proof_sources",
    multiple=True,
    metavar="FILE|URL",
    help="A consistency proof (`qp-ledger proof consistency OLD NEW`, GET /log/consistency); "
    "repeatable: the one from the size last cosigned is used. A /log/consistency URL "
    "without ?first= is asked for exactly that proof.",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"API token for URLs (env {TOKEN_ENV}): any role that may read /log/.",
)
@path_option(
    "--out",
    help="Write the cosigned checkpoint here instead of printing it (for a bundle given as "
    "--checkpoint: the bundle, its checkpoint cosigned).",
)
@json_option("Print the cosigned checkpoint and its parts as JSON.")
def cosign(
    key_file: Path,
    state: Path,
    log_key: str,
    origin: str | None,
    checkpoint_source: str,
    proof_sources: tuple[str, ...],
    token: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Cosign the checkpoint if it is consistent with the last one this witness cosigned.

    Refused (exit 1, with the reason) if the log's signature does not
    verify, the origin is not the log key's, the checkpoint is smaller than
    the last one cosigned (stale) or has another root for the same size
    (fork), or the consistency proof from the last size does not verify. The
    first checkpoint of a log needs no proof. Prints the checkpoint with
    this witness's cosignature line added (C2SP tlog-cosignature v1).

    Example:

    \b
        qp-ledger witness cosign --key-file witness.key --state witness.state \\
            --log-key @verifier.key --checkpoint checkpoint-185.txt \\
            --proof consistency-183-185.json --out cosigned-185.txt
    """
    cosigner = _cosigner(key_file)
    log_vkey = _log_key(log_key)
    note, bundle = _note(_fetch(checkpoint_source, "--checkpoint", token))
    wit = Witness(cosigner, state)
    try:
        claimed, _ = parse_checkpoint_body(split_note(note)[0])
        proofs = _proofs(
            wit, proof_sources, origin or log_vkey.split("+", 1)[0], claimed.size, token
        )
        cosigned = wit.cosign(note, proofs, log_vkey, origin)
    except CheckpointError as e:
        raise Refused(f"NOT COSIGNED (bad-checkpoint): {e}") from None
    except WitnessRefused as e:
        raise Refused(f"NOT COSIGNED ({e.reason}): {e}") from None
    _report(cosigned, cosigner, out, as_json, bundle)


def _proofs(
    wit: Witness, sources: tuple[str, ...], origin: str, size: int, token: str | None
) -> list[ConsistencyProof]:
    seen = wit.last_seen(origin)
    last = 0 if seen is None else seen.checkpoint.size
    proofs = []
    for source in sources:
        if source.startswith(("http://", "https://")):
            source = _proof_url(source, last, size)
        proofs.append(load_proof(_fetch(source, "--proof", token)))
    return proofs


def _report(
    cosigned: str,
    cosigner: Cosigner,
    out: Path | None,
    as_json: bool,
    bundle: dict[str, Any] | None,
) -> None:
    checkpoint, _ = parse_checkpoint_body(split_note(cosigned)[0])
    summary: dict[str, Any] = {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "root_hash": checkpoint.root.hex(),
        "witness": str(cosigner.key),
    }
    if out is not None:
        if bundle is None:
            write_whole(out, cosigned.encode())
        else:  # the bundle again, its checkpoint now carrying the cosignature
            bundle["checkpoint"]["note"] = cosigned
            write_whole(out, (json.dumps(bundle, indent=2) + "\n").encode())
        summary["file"] = str(out)
    if as_json:
        emit_json({**summary, "checkpoint": cosigned})
    elif out is not None:
        what = "the bundle with its cosigned checkpoint" if bundle is not None else "it"
        click.echo(
            f"cosigned {checkpoint.origin} at tree size {checkpoint.size} "
            f"(root {checkpoint.root.hex()}) as {cosigner.name}: wrote {what} to {out}"
        )
    else:
        click.echo(cosigned, nl=False)


def witness_options(command: F) -> F:
    """``--witness-key`` (repeatable) and ``--require-cosignatures``, as readers take them."""
    command = click.option(
        "--require-cosignatures",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="How many distinct --witness-key witnesses must have cosigned (default: all).",
    )(command)
    return click.option(
        "--witness-key",
        "witness_keys",
        multiple=True,
        metavar="VKEY|@FILE",
        help="A witness you trust (`qp-ledger witness keygen` prints its key); repeatable. "
        "The checkpoint must carry its cosignature.",
    )(command)


def trusted_witnesses(values: tuple[str, ...], required: int | None) -> tuple[list[str], int]:
    """The --witness-key values (each a key or @FILE) and how many must have cosigned."""
    keys = []
    for value in values:
        text = value
        if value.startswith("@"):
            try:
                text = Path(value[1:]).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as e:
                raise click.UsageError(f"--witness-key: cannot read {value[1:]}: {e}") from None
        try:
            keys.append(str(parse_cosigner_key(text)))
        except CosignatureError as e:
            raise click.UsageError(f"--witness-key: {e}") from None
    distinct = len(set(keys))
    if required is not None and required > distinct:
        raise click.UsageError(
            f"--require-cosignatures {required}: only {distinct} distinct --witness-key given"
        )
    return keys, distinct if required is None else required


COMMANDS = (witness,)
