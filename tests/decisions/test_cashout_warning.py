import pytest

from cardmind.decisions.cashout_warning import cashout_warning, plan_repayment
from cardmind.errors import InvalidInput


def test_warning_covers_the_dangers_and_the_legal_alternatives():
    w = cashout_warning()
    for word in (
        "CVN2",
        "密码",
        "欺诈",
        "信息泄露",
        "冻结",
        "信用记录",
        "套现",
        "账单分期",
        "还款计划",
    ):
        assert word in w.zh, word
    for word in (
        "CVN2",
        "password",
        "Fraud",
        "leakage",
        "freeze",
        "Credit record",
        "Legal",
        "installment",
        "Repayment plan",
    ):
        assert word.lower() in w.en.lower(), word
    assert w.text("zh").startswith(w.title_zh) and w.title_en not in w.text("zh")
    with pytest.raises(InvalidInput):
        w.text("fr")


def test_pay_in_full_when_capacity_covers_the_balance():
    p = plan_repayment(balance_fen=300_000, monthly_capacity_fen=300_000, fee_rate_bp=60)
    assert (p.kind, p.periods, p.fee_total_fen, p.total_fen) == ("pay_in_full", 1, 0, 300_000)


@pytest.mark.parametrize("balance", [1_000_001, 2_345_678, 99_999])
def test_installment_plan_is_exact_in_fen_and_fits(balance):
    capacity = balance // 5
    p = plan_repayment(balance_fen=balance, monthly_capacity_fen=capacity, fee_rate_bp=75)
    assert p.kind == "installment" and p.affordable
    assert sum(x.principal_fen for x in p.schedule) == balance
    assert p.fee_total_fen == sum(x.fee_fen for x in p.schedule)
    assert all(x.payment_fen <= capacity for x in p.schedule)
    shorter = [n for n in (3, 6, 12, 24) if n < p.periods]
    for n in shorter:  # the shortest plan that fits is chosen
        assert -(-balance // n) + round(balance * 75 / 10_000) > capacity
    assert 0 < p.annual_rate < 0.3 and "年化" in p.note_zh


def test_unaffordable_balance_points_to_a_personalised_plan():
    p = plan_repayment(balance_fen=10_000_000, monthly_capacity_fen=100_000, fee_rate_bp=60)
    assert p.kind == "personalised" and not p.affordable and p.periods == 24
    assert "个性化分期" in p.note_zh and "代还" in p.note_zh


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"balance_fen": 0}, "balance_fen"),
        ({"balance_fen": 100.5}, "integer number of fen"),
        ({"monthly_capacity_fen": -1}, "monthly_capacity_fen"),
        ({"fee_rate_bp": 1000}, "fee_rate_bp"),
    ],
)
def test_bad_input_is_refused(kwargs, match):
    args = {"balance_fen": 100_000, "monthly_capacity_fen": 10_000, "fee_rate_bp": 60, **kwargs}
    with pytest.raises(InvalidInput, match=match):
        plan_repayment(**args)
