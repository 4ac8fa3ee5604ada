"""``cardmind features list`` / ``describe NAME``: browse the feature catalog."""

from __future__ import annotations

import json

import typer

from cardmind.cli import app

features_app = typer.Typer(help="The customer profile: feature catalog (用户画像特征目录).",
                           no_args_is_help=True)
app.add_typer(features_app, name="features")


@features_app.command("list")
def list_command(
    entity: str = typer.Option(None, help="Only this entity (card, customer, merchant, ...)."),
    contains: str = typer.Option(None, help="Only names containing this text."),
    count: bool = typer.Option(False, "--count", help="Print counts per entity instead."),
) -> None:
    """List the default catalog: one feature per line with its description."""
    from cardmind.errors import InvalidInput
    from cardmind.features import default_catalog
    from cardmind.features.definitions import ENTITIES

    catalog = default_catalog()
    if entity is not None and entity not in (*ENTITIES, "request", "derived"):
        raise InvalidInput(f"unknown entity {entity!r}; known: "
                           f"{', '.join((*ENTITIES, 'request', 'derived'))}")
    defs = [d for d in catalog if (entity is None or d.entity == entity)
            and (contains is None or contains in d.name)]
    if count:
        per: dict[str, int] = {}
        for d in defs:
            per[d.entity] = per.get(d.entity, 0) + 1
        for e, n in per.items():
            typer.echo(f"{e:<14} {n:>6}")
        typer.echo(f"{'total':<14} {len(defs):>6}")
        return
    for d in defs:
        typer.echo(f"{d.name}\t{d.description}")


@features_app.command("describe")
def describe_command(name: str = typer.Argument(..., help="Feature name.")) -> None:
    """Show one feature's definition (JSON) and description."""
    from cardmind.errors import InvalidInput
    from cardmind.features.catalog import resolve

    try:
        d = resolve(name)
    except KeyError:
        raise InvalidInput(f"unknown feature {name!r}; see `cardmind features list`") from None
    typer.echo(d.description)
    typer.echo(json.dumps(d.to_dict(), indent=2, ensure_ascii=False))
