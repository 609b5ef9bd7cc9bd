"""Stored event topics outlive module moves.

eventsourcing stores each event under a topic, ``module:QualName``, and the
Merkle leaf of every event commits to it. Moving an aggregate to another
module would change the topic of every new event (so new leaves would no
longer match the documented format) and leave the old ones naming a module
that no longer exists. Each aggregate therefore pins the topics it was first
stored under: eventsourcing reads a class's ``TOPIC`` attribute before its
module path (``eventsourcing.utils.construct_topic``), and resolves a
registered topic before importing anything (``register_topic``).
"""

from __future__ import annotations

import inspect

from eventsourcing.utils import register_topic


def pin_topics(module: str, aggregate: type) -> None:
    """Store ``aggregate`` and its event classes as if defined in ``module``.

    Every class is pinned explicitly: an unpinned subclass would inherit its
    parent's ``TOPIC`` and be stored under the wrong name.
    """
    classes = [aggregate, *(v for v in vars(aggregate).values() if inspect.isclass(v))]
    for cls in classes:
        topic = f"{module}:{cls.__qualname__}"
        cls.TOPIC = topic  # type: ignore[attr-defined]
        register_topic(topic, cls)  # so reading resolves it without importing ``module``
