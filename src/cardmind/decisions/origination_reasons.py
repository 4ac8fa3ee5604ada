"""Reasons of origination and line decisions in English and 简体中文 (PIPL art. 24 explanations).

Policy reasons come from :data:`CATALOGUE`; model reasons are the top adverse factors of the
scorecard (points lost against the characteristic's best bin) and read
"<characteristic> lowered the score by N points".

>>> policy_reason("DTI_TOO_HIGH").zh
'负债收入比过高'
>>> r = factor_reason("bureau_inquiries_6m", 18)
>>> r.code, r.en, r.zh
('FACTOR_bureau_inquiries_6m', 'Credit inquiries in the last 6 months lowered the score by 18 points', '近6个月征信查询次数使评分降低18分')
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from cardmind.errors import InvalidInput


class ReasonText(BaseModel):
    """One reason: a stable code and its text in English and Chinese."""

    model_config = ConfigDict(frozen=True)

    code: str
    en: str
    zh: str
    points_lost: int | None = None


CATALOGUE: dict[str, tuple[str, str]] = {
    # knock-out rules (DECLINE)
    "AGE_OUT_OF_RANGE": ("Age outside the accepted range", "年龄不在可受理范围内"),
    "INCOME_BELOW_MINIMUM": ("Income below the product minimum", "收入低于产品最低要求"),
    "DTI_TOO_HIGH": ("Debt-to-income ratio too high", "负债收入比过高"),
    "BUREAU_DELINQUENCIES": (
        "Too many past delinquencies on the credit report",
        "征信报告中历史逾期过多",
    ),
    "LIST_BLOCK_APPLICANT": ("Applicant or device is on the block list", "申请人或设备在黑名单中"),
    "SCORE_BELOW_CUTOFF": ("Credit score below the approval cut-off", "信用评分低于审批线"),
    # referral (REFER: manual review)
    "SCORE_GREY_ZONE": ("Credit score in the manual-review zone", "信用评分处于人工审核区间"),
    "DTI_ELEVATED": ("Elevated debt-to-income ratio: manual review", "负债收入比偏高，需人工审核"),
    "INQUIRIES_MANY": (
        "Many recent credit inquiries: manual review",
        "近期征信查询较多，需人工审核",
    ),
    "MODEL_UNAVAILABLE": (
        "Scoring unavailable: manual review (stand-in rules)",
        "评分暂不可用，转人工审核",
    ),
    # approval and line
    "SCORE_APPROVED": ("Credit score above the approval cut-off", "信用评分高于审批线"),
    "LINE_INCOME_MULTIPLE": (
        "Line set as a multiple of monthly income for the risk grade",
        "额度按风险等级对应的月收入倍数核定",
    ),
    "LINE_DEBT_BURDEN": (
        "Line reduced for existing debt repayments",
        "因现有负债还款压力，额度下调",
    ),
    "LINE_GRADE_CAP": ("Line capped for the risk grade", "额度受风险等级上限限制"),
    "LINE_GLOBAL_CAP": ("Line at the product maximum", "额度已达产品上限"),
    "LINE_MINIMUM": ("Product minimum line", "产品最低额度"),
    # line management and pre-approval
    "LINE_INCREASE": (
        "Good repayment behaviour: line increase offered",
        "还款表现良好，可提升额度",
    ),
    "LINE_HOLD": ("Line unchanged", "额度保持不变"),
    "LINE_DECREASE": ("Line reduced: account behaviour risk", "账户行为风险上升，额度下调"),
    "EARLY_WARNING": ("Early warning: high risk of serious delinquency", "预警：严重逾期风险较高"),
    "RECENT_DELINQUENCY": ("Recent missed payment", "近期有逾期还款"),
}

#: Characteristic labels (English, Chinese) for model reasons; unknown names fall back to the name.
CHARACTERISTICS: dict[str, tuple[str, str]] = {
    "age": ("Age", "年龄"),
    "monthly_income_fen": ("Monthly income", "月收入"),
    "occupation": ("Occupation", "职业"),
    "city_tier": ("City tier", "城市等级"),
    "education": ("Education", "学历"),
    "housing": ("Housing", "住房情况"),
    "employment_years": ("Years with the current employer", "现单位工作年限"),
    "existing_debt_fen": ("Existing monthly debt repayments", "现有月负债还款额"),
    "debt_to_income": ("Debt-to-income ratio", "负债收入比"),
    "bureau_inquiries_6m": ("Credit inquiries in the last 6 months", "近6个月征信查询次数"),
    "bureau_delinquencies": ("Past delinquencies on the credit report", "征信历史逾期次数"),
    "channel": ("Application channel", "申请渠道"),
    # behaviour score
    "utilisation_last": ("Credit utilisation", "额度使用率"),
    "utilisation_avg_6m": ("Average utilisation over 6 months", "近6个月平均额度使用率"),
    "utilisation_max_6m": ("Highest utilisation over 6 months", "近6个月最高额度使用率"),
    "payment_ratio_avg_6m": ("Share of the balance repaid", "还款比例"),
    "min_payer_share_6m": ("Months paying only the minimum", "仅还最低还款额的月数"),
    "dpd_max_6m": ("Days past due in the last 6 months", "近6个月逾期天数"),
    "dpd_max_12m": ("Days past due in the last 12 months", "近12个月逾期天数"),
    "months_delinquent_12m": ("Months delinquent in the last 12 months", "近12个月逾期月数"),
    "purchases_avg_3m_to_limit": ("Recent spending relative to the line", "近期消费与额度之比"),
    "balance_growth_3m": ("Balance growth over 3 months", "近3个月欠款增长"),
    "tenure_months": ("Months on book", "开卡月数"),
    "cash_like_share": ("Share of third-party repayments", "第三方代还款占比"),
    "installment_to_limit": ("Installment balance relative to the line", "分期余额与额度之比"),
}


def policy_reason(code: str) -> ReasonText:
    try:
        en, zh = CATALOGUE[code]
    except KeyError:
        raise InvalidInput(f"unknown origination reason code {code!r}") from None
    return ReasonText(code=code, en=en, zh=zh)


def characteristic_label(name: str) -> tuple[str, str]:
    return CHARACTERISTICS.get(name, (name.replace("_", " "), name))


def factor_reason(name: str, points_lost: int) -> ReasonText:
    """Model reason: a characteristic that cost ``points_lost`` points against its best bin."""
    en, zh = characteristic_label(name)
    return ReasonText(
        code=f"FACTOR_{name}",
        en=f"{en} lowered the score by {points_lost} points",
        zh=f"{zh}使评分降低{points_lost}分",
        points_lost=int(points_lost),
    )
