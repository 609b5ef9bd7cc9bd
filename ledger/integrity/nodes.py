"""Complete subtree hashes read from the database: what stored proofs and roots are built from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, or_, select

from ledger.integrity.merkle import NodeID
from ledger.integrity.tables import IntegrityTables, Reader


class StoredNodes:
    """The :class:`~ledger.integrity.merkle.NodeSource` of a stored log: level 0 from the
    leaves table (unless ``leaves`` is false), the levels above from the nodes table."""

    def __init__(self, log: IntegrityTables, reader: Reader, leaves: bool = True) -> None:
        self.log, self.reader, self.leaves = log, reader, leaves

    def get_nodes(self, ids: Sequence[NodeID]) -> Mapping[NodeID, bytes]:
        found: dict[NodeID, bytes] = {}
        by_level: dict[int, list[int]] = {}
        for node in ids:
            by_level.setdefault(node.level, []).append(node.index)
        lv, nv = self.log.leaves.c, self.log.nodes.c
        if self.leaves and 0 in by_level:
            rows = self.reader.execute(
                select(lv.leaf_index, lv.leaf_hash).where(lv.leaf_index.in_(by_level[0]))
            )
            found.update({NodeID(0, int(i)): bytes(h) for i, h in rows})
        upper = [
            and_(nv.level == level, nv.idx.in_(indices))
            for level, indices in by_level.items()
            if level > 0
        ]
        if upper:
            rows = self.reader.execute(select(nv.level, nv.idx, nv.hash).where(or_(*upper)))
            found.update({NodeID(int(lvl), int(i)): bytes(h) for lvl, i, h in rows})
        return found
