"""Reason codes of authorization decisions, in English and 简体中文.

Every reason a decision carries comes from this catalogue (rules name a code; unknown codes are
refused when a rule file is loaded). Model explanations become ``FACTOR_<feature>`` reasons.

>>> reason("FRAUD_HIGH").zh
'欺诈风险评分很高'
>>> reason("FACTOR_card_amount_sum_24h").en
'Unusual value of card_amount_sum_24h'
>>> "NOT_A_CODE" in CATALOGUE
False
"""

from __future__ import annotations

from functools import lru_cache

from cardmind.decisions.types import Reason

CATALOGUE: dict[str, tuple[str, str]] = {
    # lists
    "LIST_BLOCK_CARD": ("Card is on the block list", "卡片在黑名单中"),
    "LIST_BLOCK_MERCHANT": ("Merchant is on the block list", "商户在黑名单中"),
    "LIST_BLOCK_DEVICE": ("Device is on the block list", "设备在黑名单中"),
    "LIST_BLOCK_TERMINAL": ("Terminal is on the block list", "终端在黑名单中"),
    "LIST_BLOCK_CATEGORY": ("Merchant category is blocked", "该商户类别被禁止"),
    "LIST_TRUST": ("Trusted card, merchant or device", "可信卡片、商户或设备"),
    "LIST_WATCH_NO_TEMP_CREDIT": ("No temporary credit: card or merchant on the watch list "
                                  "(e.g. a suspected cash-out merchant)",
                                  "卡片或商户在观察名单中（如疑似套现商户），不提供临时额度"),
    # fraud
    "FRAUD_HIGH": ("Very high fraud risk score", "欺诈风险评分很高"),
    "FRAUD_ELEVATED": ("Elevated fraud risk: customer verification needed", "欺诈风险偏高，需要验证持卡人身份"),
    "LOW_RISK": ("Low risk: approved without friction", "低风险，无感通过"),
    "VELOCITY_HIGH": ("Many transactions in a short time", "短时间内交易过于频繁"),
    "NEW_DEVICE_HIGH_AMOUNT": ("Large amount from a new device", "新设备上的大额交易"),
    "CROSS_BORDER_HIGH_AMOUNT": ("Large cross-border amount", "大额境外交易"),
    "NIGHT_HIGH_AMOUNT": ("Large amount at night", "夜间大额交易"),
    "CNP_HIGH_AMOUNT": ("Large card-not-present amount", "大额无卡交易"),
    # cash-out (distinct from fraud, issue 8)
    "CASHOUT_RISK": ("Cash-out (套现) pattern suspected", "疑似套现交易"),
    "CASHOUT_NO_TEMP_CREDIT": ("No temporary credit: cash-out risk", "存在套现风险，不提供临时额度"),
    # credit
    "OVER_LIMIT": ("Amount exceeds the available credit", "交易金额超过可用额度"),
    "TEMP_CREDIT_GRANTED": ("Temporary credit granted for this purchase", "已为本笔交易提供临时额度"),
    "TEMP_CREDIT_RISK": ("No temporary credit: account behaviour risk", "账户行为风险较高，不提供临时额度"),
    "TEMP_CREDIT_FRAUD_RISK": ("No temporary credit: fraud risk", "欺诈风险偏高，不提供临时额度"),
    "TEMP_CREDIT_CARD_CAP": ("No temporary credit: card cap reached", "已达单卡临时额度上限"),
    "TEMP_CREDIT_PORTFOLIO_CAP": ("No temporary credit: daily portfolio cap reached", "已达当日临时额度总量上限"),
    "TEMP_CREDIT_TENURE": ("No temporary credit: account too new", "开卡时间过短，不提供临时额度"),
    "TEMP_CREDIT_DELINQUENT": ("No temporary credit: payment overdue", "账户逾期，不提供临时额度"),
    "TEMP_CREDIT_NOT_ELIGIBLE": ("No temporary credit for this transaction", "本笔交易不适用临时额度"),
    # card and message
    "CARD_UNKNOWN": ("Unknown card", "未知卡片"),
    "CARD_NOT_ACTIVE": ("Card is not active (frozen, closed or charged off)", "卡片状态异常（冻结、销户或核销）"),
    "REVERSAL_APPLIED": ("Reversal applied to the original purchase", "已冲正原交易"),
    "REFUND_APPLIED": ("Refund credited", "退货款已入账"),
    "ORIGINAL_NOT_FOUND": ("Original purchase not found or already reversed", "原交易不存在或已冲正"),
    # stand-in
    "STANDIN_MODEL": ("Stand-in rules decided: fraud model unavailable", "欺诈模型不可用，由备用规则决策"),
    "STANDIN_FEATURES": ("Stand-in rules decided: feature store unavailable", "特征服务不可用，由备用规则决策"),
    "STANDIN_LATENCY": ("Stand-in rules decided: latency budget exceeded", "超出时延预算，由备用规则决策"),
    "STANDIN_RULES": ("Stand-in rules decided: rule evaluation failed", "规则执行失败，由备用规则决策"),
    "STANDIN_ACCOUNT": ("Stand-in rules decided: account state unavailable", "账户状态不可用，由备用规则决策"),
    "STANDIN_LARGE_AMOUNT": ("Large amount while in stand-in", "备用模式下的大额交易"),
}


@lru_cache(maxsize=4096)
def reason(code: str) -> Reason:
    """The :class:`Reason` for ``code``; ``FACTOR_<feature>`` codes are built on the fly."""
    if code.startswith("FACTOR_"):
        name = code.removeprefix("FACTOR_")
        return Reason(code=code, en=f"Unusual value of {name}", zh=f"指标 {name} 异常")
    try:
        en, zh = CATALOGUE[code]
    except KeyError:
        raise KeyError(f"unknown reason code {code!r}; known: {', '.join(CATALOGUE)}") from None
    return Reason(code=code, en=en, zh=zh)
