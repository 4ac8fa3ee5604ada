"""Block, trust and watch lists of cards, merchants, devices, categories and terminals.

Reading is for analysts; adding and removing entries is for analysts too (and admins), because
blocking a compromised card or a colluding merchant is daily fraud operations that must not wait
for an administrator. Every change records who made it (the caller's key id) and takes effect on
the next authorization.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from cardmind.api.deps import EngineDep
from cardmind.api.errors import NotFound, error_responses
from cardmind.api.security import AnalystCaller
from cardmind.decisions.types import ListEntry, ListKind, ListType
from cardmind.units import TZ

router = APIRouter(prefix="/v1/lists", tags=["lists"])

EXAMPLE = {
    "kind": "merchant",
    "value": "M000123",
    "list_type": "block",
    "reason": "colluding cash-out merchant",
}


@router.get(
    "",
    summary="List block/trust/watch entries (查询黑白名单与观察名单)",
    response_model=list[ListEntry],
    responses=error_responses(401, 403, 422, 503),
)
def list_entries(
    _caller: AnalystCaller,
    engine: EngineDep,
    kind: Annotated[ListKind | None, Query(description="Only this kind.")] = None,
    list_type: Annotated[ListType | None, Query(description="Only block, trust or watch.")] = None,
) -> list[ListEntry]:
    """Every entry in force, optionally of one kind and/or list type."""
    return list(engine.lists.entries(kind=kind, list_type=list_type))


@router.post(
    "",
    summary="Add a block/trust entry (添加黑白名单)",
    status_code=201,
    response_model=ListEntry,
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
def add_entry(
    entry: Annotated[ListEntry, Body(openapi_examples={"block a merchant": {"value": EXAMPLE}})],
    caller: AnalystCaller,
    engine: EngineDep,
) -> ListEntry:
    """Add (or replace) an entry; `added_by` is the caller's key id and `added_at` now."""
    entry = entry.model_copy(
        update={"added_by": f"key:{caller.key_id}", "added_at": entry.added_at or datetime.now(TZ)}
    )
    stored = engine.lists.add(entry)
    return stored if isinstance(stored, ListEntry) else entry


@router.delete(
    "/{list_type}/{kind}/{value}",
    summary="Remove a block/trust entry (删除黑白名单)",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422, 503),
)
def remove_entry(
    list_type: ListType,
    kind: ListKind,
    value: Annotated[str, Path(min_length=1, max_length=64)],
    _caller: AnalystCaller,
    engine: EngineDep,
) -> Response:
    """Remove an entry; 404 if it was not on the list."""
    if not engine.lists.remove(kind, value, list_type):
        raise NotFound(f"no {list_type} entry for {kind} {value!r}")
    return Response(status_code=204)
