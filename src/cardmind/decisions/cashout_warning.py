"""The customer side of cash-out defence: a warning about 代还 apps, and a repayment planner.

"Smart repayment" (智能代还) apps ask for the card number, CVN2, passwords and SMS codes, repay the
bill and then swipe the credit out again at their own merchants: in substance cash-out (套现),
which the card agreement and the bank-card rules prohibit. The warning explains why in Chinese and
English and points to the legal alternatives the issuer offers: bill installments (账单分期) and a
repayment plan (还款计划). Nothing here helps anyone cycle a card.

>>> w = cashout_warning()
>>> "CVN2" in w.zh and "账单分期" in w.zh and "还款计划" in w.zh
True
>>> p = plan_repayment(balance_fen=1_200_000, monthly_capacity_fen=250_000, fee_rate_bp=60)
>>> p.kind, p.periods, p.fee_total_fen, sum(x.principal_fen for x in p.schedule)
('installment', 6, 43200, 1200000)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from cardmind.errors import InvalidInput
from cardmind.schema import INSTALLMENT_PERIODS
from cardmind.units import format_cny

#: Longest personalised installment agreement (个性化分期还款协议) the rules allow: 5 years.
PERSONALISED_MAX_MONTHS = 60


@dataclass(frozen=True, kw_only=True)
class CustomerWarning:
    """A bilingual customer warning (title and body in 简体中文 and English)."""

    title_zh: str
    zh: str
    title_en: str
    en: str

    def text(self, lang: str = "both") -> str:
        """The warning as plain text in ``zh``, ``en`` or ``both``."""
        if lang not in ("zh", "en", "both"):
            raise InvalidInput(f"lang must be zh, en or both, got {lang!r}")
        parts = []
        if lang in ("zh", "both"):
            parts.append(f"{self.title_zh}\n{self.zh}")
        if lang in ("en", "both"):
            parts.append(f"{self.title_en}\n{self.en}")
        return "\n\n".join(parts)


_ZH = """\
近期有“智能代还”“空卡代还”“信用卡管家”等App或个人，以“帮您还款、只收少量手续费”为名，
要求您提供卡号、有效期、CVN2安全码、交易密码或短信验证码。请不要提供，也不要下载此类App：
1. 欺诈风险：任何索要CVN2、密码或验证码的一方，都能在您不知情时直接用卡消费，损失难以追回。
2. 信息泄露：您的卡片和身份信息会被保存、转卖，用于其他诈骗。
3. 账户风险：代还的实质是以虚假交易套取信用额度（套现）。我行发现后可能对卡片止付、冻结或降低额度。
4. 征信影响：套现、逾期等记录会影响您的个人信用记录，影响今后贷款和用卡。
5. 法律风险：信用卡套现违反银行卡业务规定和您签署的领用合约，组织套现的行为可能构成非法经营罪。
银行工作人员不会向您索要CVN2、密码或验证码。
如果一时无法全额还款，请使用合法的方式：
· 账单分期：将本期账单分成3、6、12或24期偿还，费用事先明示；
· 还款计划：按您每月能承受的金额制定还款计划；确有困难时，可与我行协商个性化分期还款（最长5年）。
请通过我行App、官方客服热线或网点办理。"""

_EN = """\
Apps and people offering "smart repayment" (代还) say they will pay your bill for a small fee, and
ask for your card number, expiry date, CVN2 security code, passwords or SMS codes. Do not give them,
and do not install such apps:
1. Fraud: whoever holds your CVN2, password or SMS code can spend on your card without you knowing,
   and such losses are hard to recover.
2. Data leakage: your card and identity data are kept and sold, and used for other scams.
3. Account action: the "repayment" is in substance cash-out (套现) through fake purchases. When we
   detect it we may stop, freeze or reduce the credit line of the card.
4. Credit record: cash-out and late payments are reported and can affect future loans and cards.
5. Legal risk: cash-out breaks the bank-card rules and your card agreement; organising it can be a
   criminal offence (illegal business operation).
Bank staff will never ask for your CVN2, passwords or SMS codes.
If you cannot pay the bill in full, use the legal options:
- Bill installment (账单分期): repay this statement over 3, 6, 12 or 24 months with the fee shown upfront.
- Repayment plan (还款计划): a plan sized to what you can pay each month; in real hardship, ask us
  for a personalised installment agreement (up to 5 years).
Use our app, the official hotline or a branch."""


def cashout_warning() -> CustomerWarning:
    """The 代还 app warning in 简体中文 and English."""
    return CustomerWarning(
        title_zh="警惕“智能代还”：请勿向任何人提供卡号、CVN2和密码",
        zh=_ZH,
        title_en='Beware of "smart repayment" apps: never share your card number, CVN2 or passwords',
        en=_EN,
    )


@dataclass(frozen=True, kw_only=True)
class Period:
    """One month of a repayment plan (amounts in fen)."""

    month: int
    principal_fen: int
    fee_fen: int

    @property
    def payment_fen(self) -> int:
        return self.principal_fen + self.fee_fen


@dataclass(frozen=True, kw_only=True)
class RepaymentPlan:
    """A plan: ``pay_in_full``, ``installment`` (账单分期) or ``personalised`` (contact the bank)."""

    kind: str
    periods: int
    schedule: tuple[Period, ...]
    fee_total_fen: int
    fee_rate_bp: int
    annual_rate: float
    affordable: bool
    note_zh: str
    note_en: str

    @property
    def total_fen(self) -> int:
        return sum(p.payment_fen for p in self.schedule)


def _check_fen(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer number of fen, got {value!r}")
    if value < minimum:
        raise InvalidInput(f"{name} must be >= {minimum}, got {value}")
    return value


def _annual_rate(principal: int, payments: list[int]) -> float:
    """Annualised rate (12 x monthly IRR) of paying ``payments`` monthly for ``principal`` now."""
    if sum(payments) <= principal:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        pv = sum(p / (1 + mid) ** (k + 1) for k, p in enumerate(payments))
        lo, hi = (mid, hi) if pv > principal else (lo, mid)
    return round(12 * (lo + hi) / 2, 4)


def _schedule(balance: int, periods: int, fee: int) -> tuple[Period, ...]:
    base, rest = divmod(balance, periods)
    return tuple(
        Period(month=k + 1, principal_fen=base + (rest if k == 0 else 0), fee_fen=fee)
        for k in range(periods)
    )


def plan_repayment(
    *,
    balance_fen: int,
    monthly_capacity_fen: int,
    fee_rate_bp: int,
    periods_allowed: tuple[int, ...] = INSTALLMENT_PERIODS,
) -> RepaymentPlan:
    """The shortest bill-installment plan whose monthly payment fits ``monthly_capacity_fen``.

    ``fee_rate_bp`` is the issuer's installment fee per period in basis points of the principal
    (e.g. 60 = 0.60 % a month). Principal is split evenly (the first month takes the remainder
    fen); the fee is the same each month. When even the longest plan does not fit, the answer is a
    ``personalised`` plan note: contact the issuer (up to 5 years), with the longest plan shown.
    """
    balance = _check_fen("balance_fen", balance_fen, 1)
    capacity = _check_fen("monthly_capacity_fen", monthly_capacity_fen, 1)
    rate = _check_fen("fee_rate_bp", fee_rate_bp, 0)
    if rate > 300:
        raise InvalidInput(f"fee_rate_bp must be <= 300 (3 % a month), got {rate}")
    if not periods_allowed or any(p < 2 for p in periods_allowed):
        raise InvalidInput(
            f"periods_allowed must be installment periods >= 2, got {periods_allowed}"
        )
    if capacity >= balance:
        return RepaymentPlan(
            kind="pay_in_full",
            periods=1,
            schedule=(Period(month=1, principal_fen=balance, fee_fen=0),),
            fee_total_fen=0,
            fee_rate_bp=rate,
            annual_rate=0.0,
            affordable=True,
            note_zh=f"您可在到期还款日前全额还款{format_cny(balance)}，无需支付分期手续费或利息。",
            note_en=f"You can repay {format_cny(balance)} in full by the due date: no fee, no interest.",
        )
    fee = int((Decimal(balance) * rate / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    for n in sorted(periods_allowed):
        schedule = _schedule(balance, n, fee)
        if max(p.payment_fen for p in schedule) <= capacity:
            apr = _annual_rate(balance, [p.payment_fen for p in schedule])
            return RepaymentPlan(
                kind="installment",
                periods=n,
                schedule=schedule,
                fee_total_fen=fee * n,
                fee_rate_bp=rate,
                annual_rate=apr,
                affordable=True,
                note_zh=(
                    f"账单分期{n}期：每月约还{format_cny(schedule[-1].payment_fen)}，"
                    f"手续费合计{format_cny(fee * n)}，折合年化利率约{apr:.2%}。"
                ),
                note_en=(
                    f"Bill installment over {n} months: about {format_cny(schedule[-1].payment_fen)} "
                    f"a month, fees {format_cny(fee * n)} in total, about {apr:.2%} a year."
                ),
            )
    n = max(periods_allowed)
    schedule = _schedule(balance, n, fee)
    apr = _annual_rate(balance, [p.payment_fen for p in schedule])
    return RepaymentPlan(
        kind="personalised",
        periods=n,
        schedule=schedule,
        fee_total_fen=fee * n,
        fee_rate_bp=rate,
        annual_rate=apr,
        affordable=False,
        note_zh=(
            f"即使分{n}期，每月仍需约{format_cny(schedule[-1].payment_fen)}，超过您的还款能力。"
            f"请联系我行协商个性化分期还款（最长{PERSONALISED_MAX_MONTHS // 12}年），切勿使用代还App。"
        ),
        note_en=(
            f"Even over {n} months you would pay about {format_cny(schedule[-1].payment_fen)} a "
            "month, more than you can. Contact us for a personalised installment agreement "
            f"(up to {PERSONALISED_MAX_MONTHS // 12} years); never use a repayment app."
        ),
    )
