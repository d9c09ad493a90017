"""Entity type selection (4.17), scope queries (4.19) and attribute projection (4.21)."""

from __future__ import annotations

import pytest

from smartseoul.hub.errors import BadRequestData, TooComplexQuery
from smartseoul.hub.expressions import And, Or
from smartseoul.hub.selection import (
    ANY_TYPE,
    Projection,
    ScopePattern,
    matches_scope,
    matches_types,
    parse_projection,
    parse_scope_q,
    parse_type_expr,
)

E = "https://example.org/"


def expand(name: str) -> str:
    return name if ":" in name else E + name


def test_type_expressions() -> None:
    """Clause 4.17 examples 1 to 3, with ',' as the alternative or."""
    assert parse_type_expr("Building|House", expand) == Or((E + "Building", E + "House"))
    assert parse_type_expr("Building,House", expand) == parse_type_expr("Building|House", expand)
    assert parse_type_expr("(Home;Vehicle)", expand) == And((E + "Home", E + "Vehicle"))
    tree = parse_type_expr("(Home;Vehicle)|Motorhome", expand)
    assert tree == Or((And((E + "Home", E + "Vehicle")), E + "Motorhome"))
    assert parse_type_expr("urn:type:A", expand) == "urn:type:A"
    assert parse_type_expr(" * ", expand) is ANY_TYPE


def test_matches_types() -> None:
    tree = parse_type_expr("(Home;Vehicle),Motorhome", expand)
    assert matches_types([E + "Home", E + "Vehicle", E + "Thing"], tree)
    assert matches_types([E + "Motorhome"], tree)
    assert not matches_types([E + "Home"], tree)
    assert matches_types([], ANY_TYPE)


@pytest.mark.parametrize("text", ["", "A,,B", "(A;B", "A;B)", "A B"])
def test_type_syntax_errors(text: str) -> None:
    with pytest.raises(BadRequestData, match="type"):
        parse_type_expr(text, expand)


def test_scope_queries() -> None:
    """Clause 4.19 examples 1 to 5."""
    assert parse_scope_q("/Madrid") == ScopePattern(("Madrid",))
    gardens = parse_scope_q("/Madrid/Gardens/#")
    for scope in ("/Madrid/Gardens", "/Madrid/Gardens/ParqueNorte/Parterre1"):
        assert gardens.matches(scope)
    assert not gardens.matches("/Madrid/GardensX") and not gardens.matches("/Madrid")
    parks = parse_scope_q("/Madrid/+/ParqueNorte")
    assert parks.matches("/Madrid/Sights/ParqueNorte")
    assert not parks.matches("/Madrid/ParqueNorte") and not parks.matches("/Madrid/a/b/ParqueNorte")
    both = parse_scope_q("(/Madrid/Districts;/CompanyA),/CompanyB")
    assert matches_scope(["/Madrid/Districts", "/CompanyA"], both)
    assert not matches_scope(["/Madrid/Districts"], both)
    assert matches_scope(["/CompanyB"], both)
    anything = parse_scope_q("/#")
    assert matches_scope(["/x"], anything) and not matches_scope([], anything)
    assert parse_scope_q("/서울/종로구").matches("/서울/종로구")


@pytest.mark.parametrize("text", ["Madrid", "/", "/Madrid/", "/Mad-rid", "/#/a", "/a/#b", "/1a"])
def test_scope_syntax_errors(text: str) -> None:
    with pytest.raises(BadRequestData, match="scopeQ"):
        parse_scope_q(text)


def test_projection() -> None:
    """Clause 4.21 examples 1 to 3; id, type and scope are entity members."""
    assert parse_projection("temperature", expand) == Projection(
        frozenset(), {E + "temperature": None}
    )
    both = parse_projection("temperature|humidity,id", expand)
    assert list(both.attrs) == [E + "temperature", E + "humidity"]
    assert both.members == {"id"} and "id" in both and E + "humidity" in both
    linked = parse_projection("observation{temperature,humidity},type", expand)
    nested = linked.attrs[E + "observation"]
    assert nested is not None and list(nested.attrs) == [E + "temperature", E + "humidity"]
    assert linked.members == {"type"}


@pytest.mark.parametrize("text", ["", "a,", "a,,b", "a{b", "a{}", "a}b", "{a}"])
def test_projection_syntax_errors(text: str) -> None:
    with pytest.raises(BadRequestData, match="projection"):
        parse_projection(text, expand)


def test_projection_depth() -> None:
    with pytest.raises(TooComplexQuery):
        parse_projection("a{" * 40 + "b" + "}" * 40, expand)
