"""Declarative authorization rules: a versioned YAML file of ZEN expressions, hot-reloadable.

A rule is a condition (a `GoRules ZEN <https://gorules.io>`_ expression, never Python ``eval``)
with an effect:

- ``DECLINE`` (response code, default ``05``), ``CHALLENGE`` (step-up, ``1A``),
- ``ALLOW``: suppresses challenges (zero perception for trusted/low-risk customers), never a decline,
- ``NO_TEMP_CREDIT``: the purchase may go through, but no temporary credit is granted.

All rules are compiled into one expression that returns the list of matches, so a decision costs
one call into the evaluator. Names are checked when the file is loaded: a typo (``fraud_scor``),
an unknown feature, an unknown reason code or an expression that does not yield a boolean is
refused with the rule's name and the reason, and the previous rule set stays in force.

``standin`` rules decide when the model, the feature store or the latency budget failed: they may
use only the request, the lists and the account (``fraud_score`` is null, ``features`` empty).

>>> text = '''
... version: "example-1"
... rules:
...   - name: big_night_online
...     when: "channel == 'online_cnp' and hour < 5 and amount_fen > 500000"
...     effect: CHALLENGE
...     reason: NIGHT_HIGH_AMOUNT
... standin:
...   - name: large
...     when: "amount_fen > 2000000"
...     effect: DECLINE
...     reason: STANDIN_LARGE_AMOUNT
... '''
>>> rs = parse_rules(text)
>>> rs.version, [r.name for r in rs.rules]
('example-1', ['big_night_online'])
>>> ctx = sample_context()
>>> ctx.update(channel="online_cnp", hour=2, amount_fen=600000)
>>> verdict(rs.evaluate(ctx)).action
'CHALLENGE'
>>> try:
...     parse_rules(text.replace("hour < 5", "hours < 5"))
... except InvalidInput as e:
...     print(e)
rules: rule 'big_night_online': unknown name 'hours' (known: amount_fen, amount_yuan, mcc, channel, city, cross_border, message_type, hour, weekday, fraud_score, cashout_score, lists.*, account.*, features.*)
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
import zen

from cardmind.decisions.reasons import CATALOGUE
from cardmind.decisions.types import RESPONSE_CODES, RulesInfo
from cardmind.errors import InvalidInput
from cardmind.units import TZ

DEFAULT_RULES_PATH = Path(__file__).parent / "rules" / "default.yaml"
EFFECTS = ("DECLINE", "CHALLENGE", "ALLOW", "NO_TEMP_CREDIT")
_DEFAULT_CODE = {"DECLINE": "05", "CHALLENGE": "1A", "ALLOW": "00", "NO_TEMP_CREDIT": "00"}

#: Variables a rule may use. ``lists.<kind>`` is 'block', 'trust', 'watch' or ''.
SCALARS = (
    "amount_fen", "amount_yuan", "mcc", "channel", "city", "cross_border", "message_type",
    "hour", "weekday", "fraud_score", "cashout_score",
)
LIST_FIELDS = ("card", "merchant", "device", "terminal", "category")
ACCOUNT_FIELDS = (
    "known", "status", "product_tier", "limit_fen", "available_fen", "shortfall_fen",
    "temp_credit_fen", "tenure_days", "days_past_due",
)
_KEYWORDS = {"and", "or", "not", "true", "false", "null", "in"}
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NAME = re.compile(r"(?<![\w.#$])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\s*\()?")
_RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One rule: name, ZEN condition, effect, reason code, response code."""

    name: str
    when: str
    effect: str
    reason: str
    response_code: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What the matched rules say: action, response code, reason codes, temp-credit veto."""

    action: str  # APPROVE, CHALLENGE or DECLINE
    response_code: str
    reasons: tuple[str, ...]
    credit_veto: tuple[str, ...]  # reasons of matched NO_TEMP_CREDIT rules
    matched: tuple[str, ...]

    @property
    def no_temp_credit(self) -> bool:
        return bool(self.credit_veto)


@dataclass(frozen=True, kw_only=True)
class RuleSet:
    """A parsed, validated, compiled rule file."""

    version: str
    checksum: str
    source: str
    text: str
    rules: tuple[Rule, ...]
    standin: tuple[Rule, ...]
    features: tuple[str, ...]
    loaded_at: datetime
    #: Context names the rules and stand-in rules read (``amount_fen``, ``lists.card``,
    #: ``account.status``, ``features.x``); None when they may read any (``$root``).
    reads: frozenset[str] | None = None
    _program: Any = field(repr=False, default=None)
    _standin_program: Any = field(repr=False, default=None)

    def evaluate(self, ctx: dict[str, Any]) -> list[Rule]:
        """Rules whose condition holds for ``ctx`` (see :func:`sample_context` for its shape)."""
        return _run(self._program, self.rules, ctx)

    def evaluate_standin(self, ctx: dict[str, Any]) -> list[Rule]:
        """Stand-in rules whose condition holds (``fraud_score`` null, ``features`` empty)."""
        return _run(self._standin_program, self.standin, ctx)

    def info(self) -> RulesInfo:
        return RulesInfo(
            version=self.version,
            checksum=self.checksum,
            rules=[r.name for r in self.rules] + [f"standin.{r.name}" for r in self.standin],
            source=self.source,
            loaded_at=self.loaded_at,
        )


def _run(program: Any, rules: tuple[Rule, ...], ctx: dict[str, Any]) -> list[Rule]:
    if program is None:
        return []
    try:
        hits = program.evaluate(ctx)
    except RuntimeError as exc:
        raise RuleEvaluationError(_zen_message(exc)) from None
    if True not in hits:  # the common case: nothing matched
        return []
    return [r for r, hit in zip(rules, hits, strict=True) if hit is True]


class RuleEvaluationError(RuntimeError):
    """A rule failed at run time (the engine then decides with stand-in rules)."""


def verdict(matched: list[Rule]) -> Verdict:
    """Combine matched rules: any DECLINE wins; CHALLENGE unless an ALLOW matched; else APPROVE.

    Within an effect the first rule in file order gives the response code. ``NO_TEMP_CREDIT``
    reasons are kept apart (``credit_veto``): they matter only when credit is short.

    >>> r = lambda e, c: Rule(name=c.lower(), when="true", effect=e, reason=c, response_code="05")
    >>> verdict([r("CHALLENGE", "FRAUD_ELEVATED"), r("ALLOW", "LIST_TRUST")]).action
    'APPROVE'
    >>> verdict([r("DECLINE", "FRAUD_HIGH"), r("ALLOW", "LIST_TRUST")]).reasons
    ('FRAUD_HIGH',)
    """
    if not matched:
        return _NOTHING
    by: dict[str, list[Rule]] = {e: [] for e in EFFECTS}
    for r in matched:
        by[r.effect].append(r)
    veto = _unique(tuple(r.reason for r in by["NO_TEMP_CREDIT"]))
    names = tuple(r.name for r in matched)
    if by["DECLINE"]:
        d = by["DECLINE"]
        return Verdict(action="DECLINE", response_code=d[0].response_code,
                       reasons=_unique(tuple(r.reason for r in d)), credit_veto=veto,
                       matched=names)
    if by["CHALLENGE"] and not by["ALLOW"]:
        c = by["CHALLENGE"]
        return Verdict(action="CHALLENGE", response_code=c[0].response_code,
                       reasons=_unique(tuple(r.reason for r in c)), credit_veto=veto,
                       matched=names)
    reasons = _unique(tuple(r.reason for r in by["ALLOW"] if by["CHALLENGE"]))
    return Verdict(action="APPROVE", response_code="00", reasons=reasons, credit_veto=veto,
                   matched=names)


_NOTHING = Verdict(action="APPROVE", response_code="00", reasons=(), credit_veto=(), matched=())


def _unique(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def sample_context(features: dict[str, float] | None = None) -> dict[str, Any]:
    """A context with every variable a rule may use, at typical values (used for validation).

    >>> sorted(sample_context()["lists"])
    ['card', 'category', 'device', 'merchant', 'terminal']
    """
    return {
        "amount_fen": 10_000, "amount_yuan": 100.0, "mcc": "5411", "channel": "pos_chip",
        "city": "Shanghai", "cross_border": False, "message_type": "purchase", "hour": 12,
        "weekday": 2, "fraud_score": 0.01, "cashout_score": None,
        "lists": dict.fromkeys(LIST_FIELDS, ""),
        "account": {
            "known": True, "status": "active", "product_tier": "gold", "limit_fen": 2_000_000,
            "available_fen": 1_000_000, "shortfall_fen": 0, "temp_credit_fen": 0,
            "tenure_days": 400, "days_past_due": 0,
        },
        "features": dict(features or {}),
    }


def _zen_message(exc: Exception) -> str:
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return line[:300]


def _names(expr: str) -> list[str]:
    bare = _STRING.sub("''", expr)
    out = []
    for m in _NAME.finditer(bare):
        name, call = m.group(1), m.group(2)
        if call or name in _KEYWORDS:
            continue
        out.append(name)
    return out


def reads_of(exprs: list[str]) -> frozenset[str] | None:
    """The context names ``exprs`` read, or None when one may read the whole context (``$root``,
    outside string literals), so that a caller may build only what the rules look at.

    >>> sorted(reads_of(["lists.card == 'block' and amount_fen > 5", "'$root' == city"]))
    ['amount_fen', 'city', 'lists.card']
    >>> reads_of(["$root.city == 'x'"]) is None
    True
    """
    names: set[str] = set()
    for expr in exprs:
        if "$" in _STRING.sub("''", expr):
            return None
        names.update(_names(expr))
    return frozenset(names)


def _check_names(rule_name: str, expr: str, *, standin: bool,
                 known_features: frozenset[str] | None) -> set[str]:
    used: set[str] = set()
    known = (f"{', '.join(SCALARS)}, lists.*, account.*"
             + ("" if standin else ", features.*"))
    for name in _names(expr):
        root, _, rest = name.partition(".")
        if root in SCALARS and not rest:
            if standin and root == "fraud_score":
                raise ValueError("stand-in rules cannot use fraud_score (they run when the model failed)")
            continue
        if root == "lists" and rest in LIST_FIELDS:
            continue
        if root == "account" and rest in ACCOUNT_FIELDS:
            continue
        if root == "features" and rest and "." not in rest and not standin:
            if known_features is not None and rest not in known_features:
                raise ValueError(f"unknown feature {rest!r} (not in the online catalog or model)")
            used.add(rest)
            continue
        if root == "features" and standin:
            raise ValueError("stand-in rules cannot use features (they run when the store failed)")
        raise ValueError(f"unknown name {name!r} (known: {known})")
    return used


def _parse_rule(raw: Any, where: str, *, standin: bool,
                known_features: frozenset[str] | None) -> tuple[Rule, set[str]]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"rules: {where}: each rule must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise InvalidInput(f"rules: {where}: 'name' must be snake_case (a-z, 0-9, _), got {name!r}")
    label = f"rule {name!r}" if not standin else f"stand-in rule {name!r}"
    unknown = set(raw) - {"name", "when", "effect", "reason", "response_code", "description"}
    if unknown:
        raise InvalidInput(f"rules: {label}: unknown keys {sorted(unknown)}")
    when, effect, code = raw.get("when"), raw.get("effect"), raw.get("reason")
    if not isinstance(when, str) or not when.strip():
        raise InvalidInput(f"rules: {label}: 'when' must be a non-empty expression")
    if effect not in EFFECTS:
        raise InvalidInput(f"rules: {label}: 'effect' must be one of {EFFECTS}, got {effect!r}")
    if standin and effect == "ALLOW":
        raise InvalidInput(f"rules: {label}: stand-in rules cannot ALLOW")
    if code not in CATALOGUE:
        raise InvalidInput(f"rules: {label}: unknown reason code {code!r} (see decisions/reasons.py)")
    response = str(raw.get("response_code", _DEFAULT_CODE[effect]))
    if response not in RESPONSE_CODES:
        raise InvalidInput(f"rules: {label}: unknown response_code {response!r}; known: {list(RESPONSE_CODES)}")
    if effect == "DECLINE" and response == "00":
        raise InvalidInput(f"rules: {label}: a DECLINE cannot answer 00")
    try:
        used = _check_names(name, when, standin=standin, known_features=known_features)
    except ValueError as exc:
        raise InvalidInput(f"rules: {label}: {exc}") from None
    check = zen.validate_expression(when)
    if check:
        raise InvalidInput(f"rules: {label}: syntax error: {check.get('source', check)}")
    rule = Rule(name=name, when=when, effect=effect, reason=code, response_code=response,
                description=str(raw.get("description", "")))
    return rule, used


def _compile(rules: tuple[Rule, ...], samples: list[dict[str, Any]], kind: str) -> Any:
    if not rules:
        return None
    for rule in rules:  # one by one first, so that an error names its rule
        prog = zen.compile_expression(rule.when)
        for ctx in samples:
            try:
                value = prog.evaluate(ctx)
            except RuntimeError as exc:
                raise InvalidInput(
                    f"rules: {kind}rule {rule.name!r}: fails on a sample request: {_zen_message(exc)}"
                ) from None
            if not isinstance(value, bool):
                raise InvalidInput(
                    f"rules: {kind}rule {rule.name!r}: must be true or false, got {type(value).__name__}"
                )
    return zen.compile_expression("[" + ", ".join(f"({r.when})" for r in rules) + "]")


def parse_rules(text: str, *, source: str = "<text>",
                known_features: frozenset[str] | None = None) -> RuleSet:
    """Parse and validate a rule file; raise :class:`InvalidInput` naming the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"rules: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("rules: the file must be a mapping with 'version' and 'rules'")
    unknown = set(doc) - {"version", "description", "rules", "standin"}
    if unknown:
        raise InvalidInput(f"rules: unknown top-level keys {sorted(unknown)}")
    version = doc.get("version")
    if not isinstance(version, str | int | float) or not str(version).strip():
        raise InvalidInput("rules: 'version' is required (a string such as '2026.11-1')")
    parsed: dict[str, list[Rule]] = {"rules": [], "standin": []}
    features: set[str] = set()
    seen: set[str] = set()
    for section in ("rules", "standin"):
        raw_rules = doc.get(section) or []
        if not isinstance(raw_rules, list):
            raise InvalidInput(f"rules: '{section}' must be a list of rules")
        for i, raw in enumerate(raw_rules):
            rule, used = _parse_rule(raw, f"{section}[{i}]", standin=section == "standin",
                                     known_features=known_features)
            key = f"{section}.{rule.name}"
            if key in seen:
                raise InvalidInput(f"rules: duplicate rule name {rule.name!r} in '{section}'")
            seen.add(key)
            parsed[section].append(rule)
            features |= used
    feats = dict.fromkeys(sorted(features), 0.0)
    samples = []
    for score, cash, acct_known in ((0.01, None, True), (0.97, 0.9, True), (0.5, None, False)):
        ctx = sample_context(feats)
        ctx.update(fraud_score=score, cashout_score=cash)
        ctx["account"]["known"] = acct_known
        samples.append(ctx)
    standin_samples = []
    for ctx in samples:
        s = dict(ctx, fraud_score=None, features={})
        standin_samples.append(s)
    rules, standin = tuple(parsed["rules"]), tuple(parsed["standin"])
    return RuleSet(
        version=str(version),
        checksum=hashlib.sha256(text.encode()).hexdigest()[:12],
        source=source,
        text=text,
        rules=rules,
        standin=standin,
        features=tuple(sorted(features)),
        loaded_at=datetime.now(TZ),
        reads=reads_of([r.when for r in (*rules, *standin)]),
        _program=_compile(rules, samples, ""),
        _standin_program=_compile(standin, standin_samples, "stand-in "),
    )


class RuleManager:
    """The rule set in force, with validation, explicit load and file hot reload.

    ``load(text)`` validates and swaps atomically; a bad text raises :class:`InvalidInput` and
    the previous set keeps running. ``maybe_reload()`` (called by the engine at most every
    ``watch_s`` seconds) re-reads the file when its modification time changed; a bad file is
    reported in ``last_error`` and ignored.
    """

    def __init__(self, path: Path | None = None, *, watch_s: float = 1.0,
                 known_features: frozenset[str] | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_RULES_PATH
        self.watch_s = watch_s
        self.known_features = known_features
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._mtime = self._stat()
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"rules: cannot read {self.path}: {exc.strerror}") from None
        self._current = parse_rules(text, source=str(self.path), known_features=known_features)
        self._next_check = 0.0

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    @property
    def current(self) -> RuleSet:
        return self._current

    @property
    def version(self) -> str:
        return self._current.version

    @property
    def info(self) -> RulesInfo:
        return self._current.info()

    @property
    def text(self) -> str:
        return self._current.text

    def validate(self, text: str) -> RulesInfo:
        """Check ``text`` without loading it; raise :class:`InvalidInput` on the first problem."""
        return parse_rules(text, source="<validate>", known_features=self.known_features).info()

    def load(self, text: str, *, source: str = "<api>", persist: bool = False) -> RulesInfo:
        """Validate and put ``text`` in force (optionally writing it to the rule file)."""
        rs = parse_rules(text, source=source, known_features=self.known_features)
        with self._lock:
            if persist:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                tmp.replace(self.path)
                self._mtime = self._stat()
            self._current = rs
            self.last_error = None
        return rs.info()

    def reload(self) -> RulesInfo:
        """Re-read the rule file now (bad file: InvalidInput, previous set stays)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"rules: cannot read {self.path}: {exc.strerror}") from None
        mtime = self._stat()
        try:
            info = self.load(text, source=str(self.path))
        except InvalidInput as exc:
            self.last_error = str(exc)
            self._mtime = mtime  # do not retry the same bad file in a loop
            raise
        self._mtime = mtime
        return info

    def maybe_reload(self, now: float) -> None:
        """Hot reload: cheap mtime check at most every ``watch_s`` seconds (``now``: monotonic)."""
        if now < self._next_check:
            return
        self._next_check = now + self.watch_s
        if self._stat() != self._mtime:
            # a bad file is kept in last_error; the previous rule set keeps running
            with contextlib.suppress(InvalidInput):
                self.reload()
