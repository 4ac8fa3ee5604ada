"""``cardmind replay``: stream a simulated period through the authorization engine and report."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cardmind.cli import app


@app.command("replay")
def replay_command(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder (simulated, with truth tables).")],
    days: Annotated[int, typer.Option("--days", min=1, help="Replay the last N days of the data.")] = 30,
    start: Annotated[str | None, typer.Option("--start", help="Replay from this ISO time instead (Asia/Shanghai).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Decision-log database URL (default: a fresh SQLite file under $CARDMIND_HOME/replay).")] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rule file (default: the packaged rules).")] = None,
    report: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    cashout_risk: Annotated[Path | None, typer.Option("--cashout-risk", help="Cash-out risk table (Parquet, from the cash-out detector run on data before the window): served as the engine's cash-out hook.")] = None,
    budget_ms: Annotated[float, typer.Option("--latency-budget-ms", min=0.1, help="Stand-in beyond this (a replay measures the policy, so the default is generous; a server sets its own).")] = 50.0,
) -> None:
    """Replay authorizations in time order: fraud caught, false positives, rescues, latency.

    回放模拟数据：欺诈拦截、误拒率、临时额度挽救的交易与延迟。
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from cardmind.decisions.authorize import EngineConfig
    from cardmind.decisions.replay import replay
    from cardmind.errors import InvalidInput
    from cardmind.settings import get_settings

    begin = None
    if start:
        try:
            begin = datetime.fromisoformat(start)
        except ValueError:
            raise InvalidInput(f"--start: not an ISO time: {start!r}") from None
    if db is None:
        folder = get_settings().home / "replay"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "decisions.db"
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        db = f"sqlite:///{path}"
    config = EngineConfig(db_url=db, rules_path=rules, latency_budget_us=int(budget_ms * 1000))
    hook = None
    if cashout_risk is not None:
        from cardmind.models.cashout.risk import CashoutRiskTable

        hook = CashoutRiskTable.load(cashout_risk).engine_hook()
    console = Console()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("replaying", total=None)
        result = replay(data, days=days, start=begin, config=config, cashout=hook,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    for table in result.tables():
        console.print(table)
    console.print(f"decision log: {db}")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        console.print(f"report: {report}")
