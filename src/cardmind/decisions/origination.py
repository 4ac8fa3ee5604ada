"""Origination policy: application decisions (APPROVE / DECLINE / REFER) and 5-field quick quotes.

The policy runs in this order, and every outcome carries reasons in English and 简体中文:

1. **Knock-out rules** (declarative thresholds in :class:`PolicyRules`): age 18-65, minimum
   income, debt-to-income ceiling, bureau delinquencies, block list -> DECLINE.
2. **Champion scorecard** -> PD -> risk grade A..E. Grades up to ``approve_grades`` approve,
   ``refer_grades`` go to manual review, the rest decline. Refer rules (elevated DTI, many
   inquiries) move an approval to REFER. The LightGBM challenger scores in shadow (logged).
3. **Line assignment** (:mod:`cardmind.decisions.line_assignment`) and a rate tier by grade.
4. **Reasons**: policy reasons plus the top adverse factors of the scorecard (points lost
   against each characteristic's best bin) for every decline and for the line.

Protected attributes (gender, ethnicity, ...) are not fields of the request: sending one is an
input error, so they can never reach a decision. If scoring fails, the policy refers the
application with the ``MODEL_UNAVAILABLE`` reason (stand-in).

Quick quote: age, monthly income, occupation, city and housing or education -> approval
likelihood band and an indicative line range, from the quote scorecard calibrated against the
full policy (:func:`calibrate_quote`).

>>> policy = OriginationPolicy(None)   # no trained models yet: stand-in rules only
>>> d = policy.decide({"application_id": "A1", "age": 30, "monthly_income_fen": 1_200_000,
...     "occupation": "private_employee", "city": "Hangzhou", "education": "bachelor",
...     "housing": "rent", "employment_years": 3, "existing_debt_fen": 100_000,
...     "bureau_inquiries_6m": 1, "bureau_delinquencies": 0})
>>> d.action, d.reasons[0].code, d.reasons[0].zh
('REFER', 'MODEL_UNAVAILABLE', '评分暂不可用，转人工审核')
>>> policy.decide({**d.model_dump(include={"application_id"}), "age": 7})
Traceback (most recent call last):
...
cardmind.errors.InvalidInput: ApplicationRequest: age: Input should be greater than or equal to 16; ...
"""

from __future__ import annotations

import time
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cardmind.decisions.line_assignment import GRADES, LinePolicy, RiskGrades
from cardmind.decisions.origination_reasons import ReasonText, factor_reason, policy_reason
from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.credit.application import (
    OriginationModels,
    application_features,
    quote_bands,
)
from cardmind.models.credit.scorecard import PROTECTED_ATTRIBUTES
from cardmind.privacy import refuse_sensitive_payload
from cardmind.schema import ACQUISITION_CHANNELS
from cardmind.units import TZ

Action = Literal["APPROVE", "DECLINE", "REFER"]
MAX_INCOME_FEN = 100_000_000_000  # 1 billion CNY a month: anything above is an input error
_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


class _Input(BaseModel):
    """Strict input: unknown fields refused; protected attributes refused with a clear message."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_protected(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            refuse_sensitive_payload(data, where=cls.__name__)
            protected = sorted(set(data) & PROTECTED_ATTRIBUTES)
            if protected:
                raise ValueError(
                    f"{protected} are protected attributes and never inputs to a credit decision; "
                    "remove them from the request"
                )
        return data

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> Any:
        """Validate a mapping; raise :class:`InvalidInput` naming every bad field."""
        try:
            return cls.model_validate(dict(payload))
        except ValidationError as exc:
            parts = [
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_input=False, include_url=False)
            ]
            raise InvalidInput(f"{cls.__name__}: " + "; ".join(parts)) from None


class QuoteRequest(_Input):
    """The five quick-quote fields (housing or education, at least one)."""

    age: int = Field(ge=16, le=100, description="Age in years (16-100; the policy accepts 18-65).")
    monthly_income_fen: int = Field(
        ge=0, le=MAX_INCOME_FEN, description="Declared monthly income in fen."
    )
    occupation: str = Field(min_length=1, max_length=40)
    city: str = Field(min_length=1, max_length=40)
    housing: str | None = Field(default=None, min_length=1, max_length=40)
    education: str | None = Field(default=None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _housing_or_education(self) -> QuoteRequest:
        if self.housing is None and self.education is None:
            raise ValueError("give housing or education (at least one of the two)")
        return self


class ApplicationRequest(_Input):
    """A full card application (the ``applications`` table columns a decision may use)."""

    application_id: str = Field(pattern=_ID_PATTERN)
    age: int = Field(ge=16, le=100)
    monthly_income_fen: int = Field(ge=0, le=MAX_INCOME_FEN)
    occupation: str = Field(min_length=1, max_length=40)
    city: str = Field(min_length=1, max_length=40)
    city_tier: int | None = Field(default=None, ge=1, le=4)
    education: str = Field(min_length=1, max_length=40)
    housing: str = Field(min_length=1, max_length=40)
    employment_years: int = Field(ge=0, le=70)
    existing_debt_fen: int = Field(
        ge=0, le=MAX_INCOME_FEN, description="Monthly debt service in fen."
    )
    bureau_inquiries_6m: int = Field(ge=0, le=500)
    bureau_delinquencies: int = Field(ge=0, le=500)
    channel: Literal[ACQUISITION_CHANNELS] = "online"  # type: ignore[valid-type]
    applicant_ref: str | None = Field(
        default=None,
        pattern=_ID_PATTERN,
        description="Keyed hash of the applicant's identity (block list).",
    )
    device_id: str | None = Field(default=None, pattern=_ID_PATTERN)

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationRequest:
        if self.employment_years > max(self.age - 14, 0):
            raise ValueError(
                f"employment_years {self.employment_years} impossible at age {self.age}"
            )
        return self


class ApplicationDecision(BaseModel):
    """The answer to an application (also what the decision log stores)."""

    application_id: str
    action: Action
    credit_limit_fen: int | None = None
    rate_tier: str | None = None
    risk_grade: str | None = None
    score: int | None = None
    pd: float | None = None
    challenger_pd: float | None = None
    reasons: list[ReasonText]
    model_version: str
    policy_version: str
    decided_at: datetime
    latency_ms: float
    replayed: bool = False


class Quote(BaseModel):
    """Approval likelihood band and indicative line range of a quick quote."""

    likelihood_band: Literal["high", "medium", "low", "very_low", "unknown"]
    approval_probability: float | None
    line_min_fen: int
    line_max_fen: int
    city_tier: int | None
    city_known: bool
    eligible: bool
    reasons: list[ReasonText]
    model_version: str
    latency_ms: float


@dataclass(frozen=True, kw_only=True)
class PolicyRules:
    """Knock-out and referral thresholds (declarative; change them without touching code)."""

    min_age: int = 18
    max_age: int = 65
    min_income_fen: int = 300_000
    max_dti: float = 0.6
    refer_dti: float = 0.45
    max_delinquencies: int = 2
    refer_inquiries: int = 6

    def __post_init__(self) -> None:
        if not 16 <= self.min_age < self.max_age <= 100:
            raise ValueError(
                f"need 16 <= min_age < max_age <= 100, got {self.min_age}, {self.max_age}"
            )
        if self.min_income_fen < 0 or not 0 < self.refer_dti <= self.max_dti:
            raise ValueError("need min_income_fen >= 0 and 0 < refer_dti <= max_dti")


@dataclass(frozen=True, kw_only=True)
class OriginationConfig:
    """Policy configuration: rules, grades, line policy, which grades approve / refer."""

    rules: PolicyRules = field(default_factory=PolicyRules)
    grades: RiskGrades = field(default_factory=RiskGrades)
    lines: LinePolicy = field(default_factory=LinePolicy)
    approve_grades: tuple[str, ...] = ("A", "B", "C")
    refer_grades: tuple[str, ...] = ("D",)
    rate_tiers: dict[str, str] = field(
        default_factory=lambda: {"A": "T1", "B": "T2", "C": "T3", "D": "T4", "E": "T4"}
    )
    n_factors: int = 3
    version: str = "origination-policy-1"

    def __post_init__(self) -> None:
        both = set(self.approve_grades) & set(self.refer_grades)
        unknown = (set(self.approve_grades) | set(self.refer_grades)) - set(self.grades.labels)
        if both or unknown:
            raise ValueError(
                f"grades both approve and refer: {sorted(both)}; unknown: {sorted(unknown)}"
            )


def _likelihood_band(p: float) -> str:
    return "high" if p >= 0.8 else "medium" if p >= 0.5 else "low" if p >= 0.2 else "very_low"


class OriginationPolicy:
    """Application decisions and quick quotes from :class:`OriginationModels`.

    ``blocklist`` holds applicant references and device ids that are declined outright (any
    container: a set, or the block list in the database, see
    :class:`cardmind.storage.applications.DeviceBlocklist`). With
    ``models=None`` (not trained yet) the policy runs on its stand-in rules only: knock-outs
    decline, everything else is referred, and quotes give the policy's income-multiple range.
    """

    def __init__(
        self,
        models: OriginationModels | None,
        config: OriginationConfig | None = None,
        *,
        blocklist: Container[str] = frozenset(),
    ) -> None:
        self.models = models
        self.config = config or OriginationConfig()
        self.blocklist = blocklist

    # --- single application -------------------------------------------------------------------

    def _record(self, req: ApplicationRequest) -> dict[str, Any]:
        rec = req.model_dump()
        if rec["city_tier"] is None and self.models is not None:
            rec["city_tier"] = self.models.city_tier(req.city)[0]
        income = max(req.monthly_income_fen, 1)
        rec["debt_to_income"] = min(req.existing_debt_fen / income, 5.0)
        return rec

    def knockouts(self, req: ApplicationRequest) -> list[str]:
        """Codes of the knock-out rules the application fails."""
        r = self.config.rules
        codes = []
        if not r.min_age <= req.age <= r.max_age:
            codes.append("AGE_OUT_OF_RANGE")
        if req.monthly_income_fen < r.min_income_fen:
            codes.append("INCOME_BELOW_MINIMUM")
        if req.existing_debt_fen > r.max_dti * req.monthly_income_fen:
            codes.append("DTI_TOO_HIGH")
        if req.bureau_delinquencies > r.max_delinquencies:
            codes.append("BUREAU_DELINQUENCIES")
        if any(v is not None and v in self.blocklist for v in (req.applicant_ref, req.device_id)):
            codes.append("LIST_BLOCK_APPLICANT")
        return codes

    def decide(self, request: ApplicationRequest | Mapping[str, Any]) -> ApplicationDecision:
        """Decide one application (no logging: see :func:`decide_and_log`)."""
        t0 = time.perf_counter()
        req = (
            request
            if isinstance(request, ApplicationRequest)
            else ApplicationRequest.parse(request)
        )
        cfg = self.config
        rec = self._record(req)
        reasons: list[ReasonText] = []
        out: dict[str, Any] = {}
        try:
            if self.models is None:
                raise LookupError("origination models not trained")
            champion = self.models.champion
            points = np.asarray([champion.points_one(rec)])
            score = int(points.sum())
            pd_bad = float(champion.scaling_.pd_from_score(np.array([score]))[0])
            idx, lost = champion.adverse_factors(points, top=cfg.n_factors)
            factors = [
                factor_reason(champion.feature_names_[j], int(v))
                for j, v in zip(idx[0], lost[0], strict=True)
                if j >= 0
            ]
            challenger_pd = None
            if self.models.challenger is not None:
                challenger_pd = round(self.models.challenger.predict_proba_one(rec), 6)
        except Exception:  # stand-in: any scoring failure refers the case
            knock = self.knockouts(req)
            action = "DECLINE" if knock else "REFER"
            reasons = [policy_reason(c) for c in knock] or [policy_reason("MODEL_UNAVAILABLE")]
            return self._finish(req, t0, action=action, reasons=reasons)
        grade = cfg.grades.grade_of(pd_bad)
        out.update(score=score, pd=round(pd_bad, 6), risk_grade=grade, challenger_pd=challenger_pd)
        knock = self.knockouts(req)
        if knock:
            return self._finish(
                req, t0, action="DECLINE", reasons=[*map(policy_reason, knock), *factors], **out
            )
        if grade not in cfg.approve_grades and grade not in cfg.refer_grades:
            return self._finish(
                req,
                t0,
                action="DECLINE",
                reasons=[policy_reason("SCORE_BELOW_CUTOFF"), *factors],
                **out,
            )
        refer = []
        if grade in cfg.refer_grades:
            refer.append("SCORE_GREY_ZONE")
        if req.existing_debt_fen > cfg.rules.refer_dti * req.monthly_income_fen:
            refer.append("DTI_ELEVATED")
        if req.bureau_inquiries_6m >= cfg.rules.refer_inquiries:
            refer.append("INQUIRIES_MANY")
        if refer:
            return self._finish(
                req, t0, action="REFER", reasons=[*map(policy_reason, refer), *factors], **out
            )
        line = cfg.lines.assign(
            income_fen=req.monthly_income_fen, debt_fen=req.existing_debt_fen, grade=grade
        )
        reasons = [
            policy_reason("SCORE_APPROVED"),
            policy_reason(
                {
                    "income": "LINE_INCOME_MULTIPLE",
                    "debt": "LINE_DEBT_BURDEN",
                    "grade_cap": "LINE_GRADE_CAP",
                    "global_cap": "LINE_GLOBAL_CAP",
                    "minimum": "LINE_MINIMUM",
                }[line.binding]
            ),
            *factors,
        ]
        return self._finish(
            req,
            t0,
            action="APPROVE",
            reasons=reasons,
            credit_limit_fen=line.line_fen,
            rate_tier=cfg.rate_tiers[grade],
            **out,
        )

    @property
    def model_version(self) -> str:
        return "none (stand-in rules)" if self.models is None else self.models.version

    def _finish(self, req: ApplicationRequest, t0: float, **kw: Any) -> ApplicationDecision:
        return ApplicationDecision(
            application_id=req.application_id,
            model_version=self.model_version,
            policy_version=self.config.version,
            decided_at=datetime.now(TZ),
            latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            **kw,
        )

    # --- batch (evaluation, calibration) ------------------------------------------------------

    def decide_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Vectorised decisions for application rows: action, grade, pd, score, line.

        Same rules as :meth:`decide` (without reasons); used to evaluate the policy on a
        population and to calibrate the quick quote.
        """
        if self.models is None:
            raise NotFittedError("decide_frame needs trained origination models")
        cfg, r = self.config, self.config.rules
        feats = application_features(df)
        if "city_tier" not in feats.columns or feats["city_tier"].isna().any():
            tiers = df["city"].map(lambda c: self.models.city_tier(str(c))[0])
            feats["city_tier"] = feats.get("city_tier", tiers).fillna(tiers)
        score = self.models.champion.score(feats)
        pd_bad = self.models.champion.scaling_.pd_from_score(score)
        gi = cfg.grades.grade_index(pd_bad)
        labels = np.array(cfg.grades.labels)
        grade = labels[gi]
        income = df["monthly_income_fen"].to_numpy(float)
        debt = df["existing_debt_fen"].to_numpy(float)
        knock = (
            (df["age"].to_numpy() < r.min_age)
            | (df["age"].to_numpy() > r.max_age)
            | (income < r.min_income_fen)
            | (debt > r.max_dti * income)
            | (df["bureau_delinquencies"].to_numpy() > r.max_delinquencies)
        )
        approve_g = np.isin(grade, cfg.approve_grades)
        refer_g = np.isin(grade, cfg.refer_grades)
        refer_rule = (debt > r.refer_dti * income) | (
            df["bureau_inquiries_6m"].to_numpy() >= r.refer_inquiries
        )
        action = np.where(
            knock | ~(approve_g | refer_g),
            "DECLINE",
            np.where(refer_g | refer_rule, "REFER", "APPROVE"),
        )
        line, _ = cfg.lines.assign_many(income, debt, np.minimum(gi, len(GRADES) - 1))
        return pd.DataFrame(
            {
                "action": action,
                "risk_grade": grade,
                "pd": pd_bad,
                "score": score,
                "credit_limit_fen": np.where(action == "APPROVE", line, 0),
            },
            index=df.index,
        )

    # --- quick quote --------------------------------------------------------------------------

    def _standin_quote(self, req: QuoteRequest, t0: float) -> Quote:
        return _standin_quote_impl(self, req, t0)

    def quote(self, request: QuoteRequest | Mapping[str, Any]) -> Quote:
        """Approval likelihood band and indicative line range from the five quote fields."""
        t0 = time.perf_counter()
        req = request if isinstance(request, QuoteRequest) else QuoteRequest.parse(request)
        if self.models is None:
            return self._standin_quote(req, t0)
        tier, known = self.models.city_tier(req.city)
        rec = {**req.model_dump(), "city_tier": tier}
        score = sum(self.models.quote.points_one(rec))
        band = self.models.quote_band(score)
        r = self.config.rules
        eligible = r.min_age <= req.age <= r.max_age and req.monthly_income_fen >= r.min_income_fen
        reasons = []
        if not r.min_age <= req.age <= r.max_age:
            reasons.append(policy_reason("AGE_OUT_OF_RANGE"))
        if req.monthly_income_fen < r.min_income_fen:
            reasons.append(policy_reason("INCOME_BELOW_MINIMUM"))
        p = band.approval_rate if eligible else 0.0
        step = self.config.lines.round_to_fen
        lo = int(np.floor(req.monthly_income_fen * band.line_ratio_lo / step) * step)
        hi = int(np.floor(req.monthly_income_fen * band.line_ratio_hi / step) * step)
        cap = self.config.lines.global_cap_fen
        lo, hi = (
            min(max(lo, self.config.lines.min_line_fen), cap),
            min(max(hi, self.config.lines.min_line_fen), cap),
        )
        if not eligible or band.line_ratio_hi == 0:
            lo = hi = 0
        if eligible:
            quote_model = self.models.quote
            pts = np.asarray([quote_model.points_one(rec)])
            idx, lost = quote_model.adverse_factors(pts, top=2)
            reasons += [
                factor_reason(quote_model.feature_names_[j], int(v))
                for j, v in zip(idx[0], lost[0], strict=True)
                if j >= 0
            ]
        return Quote(
            likelihood_band=_likelihood_band(p),  # type: ignore[arg-type]
            approval_probability=round(p, 4),
            line_min_fen=lo,
            line_max_fen=hi,
            city_tier=tier,
            city_known=known,
            eligible=eligible,
            reasons=reasons,
            model_version=self.model_version,
            latency_ms=round((time.perf_counter() - t0) * 1000, 3),
        )


def _standin_quote_impl(policy: OriginationPolicy, req: QuoteRequest, t0: float) -> Quote:
    r, lines = policy.config.rules, policy.config.lines
    eligible = r.min_age <= req.age <= r.max_age and req.monthly_income_fen >= r.min_income_fen
    reasons = [policy_reason("MODEL_UNAVAILABLE")]
    if not r.min_age <= req.age <= r.max_age:
        reasons.append(policy_reason("AGE_OUT_OF_RANGE"))
    if req.monthly_income_fen < r.min_income_fen:
        reasons.append(policy_reason("INCOME_BELOW_MINIMUM"))
    lo = hi = 0
    if eligible:
        approve = [GRADES.index(g) for g in policy.config.approve_grades]
        span, _ = lines.assign_many(
            np.full(len(approve), req.monthly_income_fen), np.zeros(len(approve)), np.array(approve)
        )
        lo, hi = int(span.min()), int(span.max())
    return Quote(
        likelihood_band="unknown",
        approval_probability=None,
        line_min_fen=lo,
        line_max_fen=hi,
        city_tier=None,
        city_known=False,
        eligible=eligible,
        reasons=reasons,
        model_version=policy.model_version,
        latency_ms=round((time.perf_counter() - t0) * 1000, 3),
    )


def calibrate_quote(
    policy: OriginationPolicy, applications: pd.DataFrame, *, n_bands: int = 8
) -> None:
    """Fit the quote bands of ``policy.models`` on a population of applications (in place).

    Each band records the share of its applicants the full policy approves and the inter-quartile
    range of the line/income ratio it assigns.
    """
    decisions = policy.decide_frame(applications)
    feats = application_features(applications)
    qs = policy.models.quote.score(feats)
    approved = (decisions["action"] == "APPROVE").to_numpy()
    income = applications["monthly_income_fen"].to_numpy(float)
    ratio = np.where(
        approved, decisions["credit_limit_fen"].to_numpy(float) / np.maximum(income, 1), np.nan
    )
    policy.models.quote_bands = quote_bands(qs, approved, ratio, n_bands=n_bands)
