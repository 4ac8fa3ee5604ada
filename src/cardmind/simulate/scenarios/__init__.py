"""Labelled scenarios, one module each; the registry fixes their order and codes.

>>> list(SCENARIO_TYPES)[:2], SCENARIO_TYPES["cashout_app"].is_fraud
(['lost_stolen', 'cnp_breach'], False)
"""

from __future__ import annotations

from cardmind.simulate.scenarios.account_takeover import AccountTakeover
from cardmind.simulate.scenarios.base import Scenario
from cardmind.simulate.scenarios.bust_out import BustOut
from cardmind.simulate.scenarios.card_testing import CardTesting
from cardmind.simulate.scenarios.cashout_app import CashoutApp
from cardmind.simulate.scenarios.cnp_breach import CnpBreach
from cardmind.simulate.scenarios.lost_stolen import LostStolen
from cardmind.simulate.scenarios.pos_cashout import PosCashout
from cardmind.simulate.scenarios.skimming import Skimming

SCENARIO_TYPES: dict[str, type[Scenario]] = {
    cls.name: cls
    for cls in (
        LostStolen,
        CnpBreach,
        CardTesting,
        AccountTakeover,
        Skimming,
        BustOut,
        CashoutApp,
        PosCashout,
    )
}
FRAUD_SCENARIOS = tuple(n for n, c in SCENARIO_TYPES.items() if c.is_fraud)
