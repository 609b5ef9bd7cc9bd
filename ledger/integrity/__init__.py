"""Tamper evidence for the ledger: a Merkle log of every event, hash chains, signed checkpoints.

``merkle`` (RFC 9162 tree hashing and proofs), ``leaf`` (the canonical bytes
of a stored event), ``checkpoint`` (Ed25519 signed notes) and ``verifier``
(pure proof checking for auditors) import no database code.
``store_integration`` persists the tree in the event store's transaction and
serves proofs; ``audit`` recomputes everything for ``qp-ledger verify``;
``service`` builds the documents the CLI prints and the API serves;
``signing`` reads the key file and origin settings. See docs/integrity.md.
"""
