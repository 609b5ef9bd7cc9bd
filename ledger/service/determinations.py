"""Issuing decisions, reproducing them, explaining changes, and the appeal lifecycle.

Part of the application service (``QPLedger.determinations``): the Board
issues decisions (.issuing), auditors reproduce them, CCGs appeal them
(.appeals). It works on the ledger through :class:`ledger.service.ports.LedgerPort`,
so it never imports the application that constructs it.
"""

from __future__ import annotations

from typing import Any

from ledger.service.appeals import Appeals


class Determinations(Appeals):
    """Issued decisions and appeals for every CCG, on top of the ledger."""

    def chain(self, ccg: str, scheme: str) -> dict[str, Any]:
        """Everything an auditor needs: every issued decision and every appeal, in order."""
        return {
            "ccg": ccg,
            "scheme": scheme,
            "issued": self.issued(ccg, scheme),
            "appeals": self.appeals(ccg, scheme),
        }
