"""Decision rules: read them (analyst), replace them with validation and hot reload (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from cardmind.api.deps import EngineDep
from cardmind.api.errors import error_responses
from cardmind.api.security import AdminCaller, AnalystCaller
from cardmind.decisions.types import RulesInfo

router = APIRouter(prefix="/v1/rules", tags=["rules"])

YAML_TYPE = "application/yaml"


class RulesUpdate(BaseModel):
    """A new rule file and whether to only validate it."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=512_000,
        description="The complete rule file (YAML), as returned by GET /v1/rules/text.",
    )
    dry_run: bool = Field(
        default=False, description="Only validate; the rules in force stay unchanged."
    )


@router.get(
    "",
    summary="Rules in force: version and names (当前规则版本)",
    response_model=RulesInfo,
    responses=error_responses(401, 403, 503),
)
def rules_info(
    _caller: AnalystCaller,
    engine: EngineDep,
) -> RulesInfo:
    """Version, checksum, rule names and source of the rule set every decision now uses."""
    return engine.rules.info


@router.get(
    "/text",
    summary="The rule file in force (当前规则文件)",
    response_class=Response,
    responses={
        200: {"content": {YAML_TYPE: {}}, "description": "The YAML rule file"},
        **error_responses(401, 403, 503),
    },
)
def rules_text(
    _caller: AnalystCaller,
    engine: EngineDep,
) -> Response:
    """The complete YAML rule file in force, to edit and send back with PUT."""
    return Response(engine.rules.text, media_type=YAML_TYPE)


@router.put(
    "",
    summary="Replace the rules, validated, hot reloaded (更新规则，仅管理员)",
    response_model=RulesInfo,
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
def put_rules(
    update: RulesUpdate,
    caller: AdminCaller,
    engine: EngineDep,
) -> RulesInfo:
    """Validate the new rule file; unless `dry_run`, put it in force for the next decision
    without restart. Invalid rules are refused with 422 and the rules in force stay unchanged.

    The new rules stay in force until the server restarts or the rule file on disk changes (the
    engine watches it); to make a change permanent, also commit it to the rule file."""
    if update.dry_run:
        return engine.rules.validate(update.text)
    return engine.rules.load(update.text, source=f"api:key:{caller.key_id}")
