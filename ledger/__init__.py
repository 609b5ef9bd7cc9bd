"""QP Ledger: an event-sourced, tamper-evident audit ledger for the NHS Quality Premium."""

from __future__ import annotations

__version__ = "0.1.0"
