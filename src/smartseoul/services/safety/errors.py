"""The errors a safe-city user can fix: bad input files, bad geometry, infeasible plans."""

from __future__ import annotations

__all__ = ["GeometryError", "InfeasibleError", "SafetyInputError"]


class SafetyInputError(ValueError):
    """An input (file, entity, parameter) the safety service cannot use; the message says why."""


class GeometryError(SafetyInputError):
    """A point or polygon that is missing, unparseable or out of range; names the row or feature."""


class InfeasibleError(SafetyInputError):
    """No plan satisfies the constraints, e.g. a demand point no candidate can cover.

    Attributes
    ----------
    demand_ids
        The demand points that cannot be covered.
    """

    def __init__(self, message: str, demand_ids: list[str]):
        super().__init__(message)
        self.demand_ids = demand_ids
