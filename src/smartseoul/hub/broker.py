"""The broker: every NGSI-LD provision and consumption operation on one store, no web.

Each operation validates first, then reads, changes and writes inside one store
transaction, and records every written attribute instance in history (clause 4.5.6).
A failed request leaves nothing half-written. Single-entity operations live in
``hub.entity_ops``, batches in ``hub.batch``, temporal ones in ``hub.temporal_ops``,
the per-entity change rules in ``hub.changes``.
"""

from __future__ import annotations

from smartseoul.hub.batch import BatchOperations
from smartseoul.hub.changes import BatchResult, Change, UpdateResult, history_rows, new_instance_id
from smartseoul.hub.temporal_ops import TemporalOperations

__all__ = ["BatchResult", "Broker", "Change", "UpdateResult", "history_rows", "new_instance_id"]


class Broker(BatchOperations, TemporalOperations):
    """Provision and consumption operations over one Store (any backend)."""
