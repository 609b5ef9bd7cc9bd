"""Tamper evidence for the ledger: a Merkle log of every event, hash chains, signed checkpoints.

Pure (no database code): ``merkle`` (RFC 9162 tree hashing and proofs),
``leaf`` (the canonical bytes of a stored event), ``checkpoint`` (Ed25519
signed notes), ``verifier`` (proof checking for auditors), ``bundle`` and
``bundle_record``.
Storage: ``tables`` (the two tables beside the events), ``log`` (written in
the event store's transaction, serving roots and proofs through ``nodes``),
``store_integration`` (the recorder mixin); ``audit`` with ``audit_reads``,
``audit_faults`` and ``audit_report`` recomputes everything for
``qp-ledger verify``; ``documents`` builds what the CLI prints and the API
serves; ``signing`` and ``signed_head`` read the key and never sign a fork.
See docs/integrity.md.
"""
