"""``cardmind lists import|show``: block, trust and watch lists in the decision database.

The lists the authorization engine reads (``cardmind serve`` reloads them every few seconds), so a
suspect-merchant file from ``cardmind cashout rings --out FILE`` reaches the hot path with::

    cardmind lists import FILE
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cardmind.cli import app

lists_app = typer.Typer(help="Block, trust and watch lists (黑白名单与观察名单).", no_args_is_help=True)
app.add_typer(lists_app, name="lists")

#: Keys an import file may carry besides a list entry's fields (``cashout rings`` writes them).
_INFORMATIVE = ("evidence",)


def _store() -> Any:
    from cardmind.decisions.lists import ListStore
    from cardmind.storage.base import create_all, make_engine

    engine = make_engine()  # the configured database
    create_all(engine)
    return ListStore(engine)


def parse_entries(items: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Validate the items of an import file: (entries, rejected items each with a ``reason``).

    >>> ok, bad = parse_entries([{"kind": "merchant", "value": "m1", "list_type": "watch",
    ...                           "evidence": {"ring_id": "r1"}}, {"kind": "shop", "value": "x"}])
    >>> [e.value for e in ok], bad[0]["reason"][:40]
    (['m1'], "kind: Input should be 'card', 'merchant'")
    """
    from pydantic import ValidationError

    from cardmind.decisions.types import ListEntry
    from cardmind.errors import InvalidInput

    if not isinstance(items, list):
        raise InvalidInput("lists import: the file must hold a JSON array of list entries")
    entries, rejected = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append({"item": i, "reason": "not a JSON object"})
            continue
        fields = {k: v for k, v in item.items() if k not in _INFORMATIVE}
        try:
            entries.append(ListEntry.model_validate(fields))
        except ValidationError as exc:
            why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}"
                            for e in exc.errors())
            rejected.append({"item": i, "entry": _safe(fields), "reason": why})
        except InvalidInput as exc:  # card data: the values are not echoed
            rejected.append({"item": i, "reason": str(exc)})
    return entries, rejected


def _safe(fields: dict[str, Any]) -> dict[str, Any]:
    """The identifying fields of a refused item (values that look like card data never kept)."""
    from cardmind.privacy import contains_pan

    return {k: ("<refused: card number>" if isinstance(v, str) and contains_pan(v) else v)
            for k, v in fields.items() if k in ("kind", "value", "list_type")}


@lists_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="JSON array of entries (e.g. `cashout rings --out`).")],
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Where refused items go with their reason (default: FILE.rejected.json).")] = None,
) -> None:
    """Add the entries of a JSON file in one transaction; refused items are kept with a reason.

    A value already on another list is refused, never moved: an import cannot lift a block.
    """
    from cardmind.errors import InvalidInput

    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})") from exc
    entries, rejected = parse_entries(items)
    added, refused = _store().add_many(entries)
    rejected += [{"entry": _safe(e.model_dump(mode="json")), "reason": why} for e, why in refused]
    by_type: dict[str, int] = {}
    for e in added:
        by_type[e.list_type] = by_type.get(e.list_type, 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(by_type.items())) or "nothing"
    typer.echo(f"added or refreshed {summary}; {len(rejected)} refused")
    if rejected:
        out = rejects or path.with_name(path.name + ".rejected.json")
        out.write_text(json.dumps(rejected, ensure_ascii=False, indent=2), encoding="utf-8")
        typer.echo(f"refused items with their reasons -> {out} (被拒条目及原因)", err=True)


@lists_app.command("show")
def show_command(
    kind: Annotated[str | None, typer.Option(help="Only this kind (card, merchant, ...).")] = None,
    list_type: Annotated[str | None, typer.Option("--type", help="Only block, trust or watch.")] = None,
) -> None:
    """Every entry in force, one per line: type, kind, value, expiry, reason."""
    entries = _store().entries(kind=kind, list_type=list_type)
    for e in entries:
        expires = e.expires_at.isoformat() if e.expires_at else "-"
        typer.echo(f"{e.list_type:<6} {e.kind:<9} {e.value:<24} {expires:<26} {e.reason or ''}")
    typer.echo(f"{len(entries)} entries", err=True)
