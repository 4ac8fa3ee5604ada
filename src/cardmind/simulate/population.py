"""The static world: customers with latent traits, their cards, merchants and applications.

Everything is drawn vectorised from the seed. Card numbers are Luhn-valid UnionPay numbers
(BIN 62xxxx) that exist only in memory for the time it takes to tokenise them with
:func:`cardmind.privacy.tokenize_pan`; the PAN itself is never stored.

>>> import numpy as np
>>> pans = luhn_pans(np.random.default_rng(0), 3)
>>> from cardmind.privacy import luhn_valid
>>> all(luhn_valid(p) and p.startswith("62") and len(p) == 16 for p in pans)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardmind.privacy import contains_pan, tokenize_pan
from cardmind.schema import ACQUISITION_CHANNELS
from cardmind.simulate import reference as ref
from cardmind.simulate.calendar import DAY

_BINS = ("625801", "625802", "628351", "622736")
REPAY_FULL, REPAY_REVOLVER, REPAY_LATE, REPAY_DEFAULTER = 0, 1, 2, 3
REPAYMENT_TYPES = ("full_payer", "revolver", "late_payer", "defaulter")
NEVER = np.iinfo(np.int64).max // 4


def luhn_pans(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 16-digit Luhn-valid card numbers on simulated UnionPay BINs."""
    bins = np.array([[int(c) for c in b] for b in _BINS])
    acct = rng.choice(10**9, size=int(n * 1.2) + 10, replace=True)
    _, first = np.unique(acct, return_index=True)
    acct = acct[np.sort(first)][:n]
    if len(acct) < n:  # pragma: no cover - vanishingly unlikely
        raise RuntimeError("could not draw enough distinct account numbers")
    body = np.zeros((n, 15), dtype=np.int64)
    body[:, :6] = bins[rng.integers(0, len(_BINS), n)]
    for k in range(9):
        body[:, 14 - k] = (acct // 10**k) % 10
    # Luhn: double every second digit from the right of the 15-digit body (check digit appended)
    dbl = body.copy()
    dbl[:, 14::-2] *= 2
    dbl = np.where(dbl > 9, dbl - 9, dbl)
    check = (10 - dbl.sum(axis=1) % 10) % 10
    digits = np.concatenate([body, check[:, None]], axis=1)
    return ["".join(map(str, row)) for row in digits.tolist()]


def _tokens(rng: np.random.Generator, n: int, pan_key: bytes) -> tuple[list[str], list[str]]:
    """Tokens and last four digits of ``n`` fresh card numbers (the numbers are then dropped).

    A hex token can, by chance (~0.2 %), contain a 13+ digit run that passes Luhn and would trip
    every PAN detector downstream; such cards get another number, so tokens are "PAN-safe".
    """
    tokens: list[str] = []
    last4: list[str] = []
    seen: set[str] = set()
    while len(tokens) < n:
        for pan in luhn_pans(rng, n - len(tokens)):
            token, l4 = tokenize_pan(pan, key=pan_key)
            if token in seen or contains_pan(token):
                continue
            seen.add(token)
            tokens.append(token)
            last4.append(l4)
    return tokens, last4


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_people(rng: np.random.Generator, n: int, risk_shift: float = 0.0) -> dict[str, np.ndarray]:
    """Demographics, bureau data and latent traits of ``n`` people (customers or applicants)."""
    city = rng.choice(ref.N_DOMESTIC, size=n, p=ref.CITY_P).astype(np.int16)
    tier = ref.CITY_TIER[city]
    age = np.clip(20 + rng.gamma(3.0, 5.0, n), 20, 65).astype(np.int16)
    occ = rng.choice(len(ref.OCCUPATIONS), size=n, p=ref.OCCUPATION_P)
    occ = np.where((occ == ref.OCCUPATIONS.index("student")) & (age > 27), 2, occ)
    occ = np.where((occ == ref.OCCUPATIONS.index("retired")) & (age < 55), 2, occ)
    edu = rng.choice(len(ref.EDUCATIONS), size=n, p=ref.EDUCATION_P)
    housing = rng.choice(len(ref.HOUSING), size=n, p=ref.HOUSING_P)
    age_factor = 0.75 + 0.45 * np.exp(-(((age - 40) / 12.0) ** 2))
    income_yuan = (
        ref.TIER_INCOME_YUAN[tier]
        * ref.OCCUPATION_INCOME[occ]
        * ref.EDUCATION_INCOME[edu]
        * age_factor
        * rng.lognormal(0.0, 0.45, n)
    )
    income_fen = (np.maximum(income_yuan, 2000.0) * 100).round(-2).astype(np.int64)
    z = rng.normal(0.0, 1.0, n) + risk_shift
    logit = (
        -2.7
        + 0.85 * z
        + ref.OCCUPATION_RISK[occ]
        + ref.HOUSING_RISK[housing]
        - 0.35 * np.log(income_yuan / 10_000)
        + 0.3 * (age < 25)
    )
    risk = _sigmoid(logit)
    emp_years = np.minimum(age - 19, rng.gamma(2.0, 3.0, n)).astype(np.int16)
    debt_ratio = rng.uniform(0.0, 0.35, n) * np.where(housing == 1, 1.6, 0.6) * (0.6 + 2 * risk)
    return {
        "city": city,
        "city_tier": tier,
        "age": age,
        "gender": rng.random(n) < 0.48,  # True = F
        "occupation": occ,
        "education": edu,
        "housing": housing,
        "income_fen": income_fen,
        "employment_years": emp_years,
        "existing_debt_fen": (income_fen * np.minimum(debt_ratio, 0.9)).round(-2).astype(np.int64),
        "bureau_inquiries_6m": rng.poisson(0.8 + 6.0 * risk).astype(np.int16),
        "bureau_delinquencies": rng.poisson(3.0 * risk).astype(np.int16),
        "risk": risk,
        "value": rng.lognormal(0.0, 0.6, n) * (income_yuan / 10_000) ** 0.3,
        "installment_propensity": np.clip(rng.beta(2.0, 8.0, n) * (1.0 + risk), 0.0, 1.0),
        "offer_responsiveness": rng.beta(2.0, 5.0, n),
        "acq": rng.choice(len(ACQUISITION_CHANNELS), size=n, p=ref.ACQ_P).astype(np.int8),
        "u_type": rng.random(n),
        "u_default": rng.random(n),
    }


def credit_limit_fen(
    rng: np.random.Generator, income_fen: np.ndarray, risk: np.ndarray
) -> np.ndarray:
    """Line = income x 1.5-5 x (1.2 - risk), 3,000-300,000 yuan in 1,000-yuan steps."""
    mult = rng.uniform(1.5, 5.0, len(income_fen)) * (1.2 - risk)
    yuan = np.clip(income_fen / 100 * mult, 3_000, 300_000)
    return ((yuan // 1000) * 1000 * 100).astype(np.int64)


def repayment_types(people: dict[str, np.ndarray], default_scale: float) -> np.ndarray:
    """Full payers, revolvers, late payers and defaulters by latent risk.

    About 55-60 % of Chinese card holders pay in full (revolving share 30-40 % in issuer
    reports); the defaulter share (~3 %) matches card NPL ratios of 1.5-3 % (PBoC/CBIRC).
    """
    risk = people["risk"]
    u = people["u_type"]
    p_def = np.minimum(0.8, default_scale * 0.8 * risk**1.5)
    p_late = 0.05 + 0.3 * risk
    p_rev = 0.30 + 0.4 * risk
    out = np.full(len(risk), REPAY_FULL, dtype=np.int8)
    out[u < p_def + p_late + p_rev] = REPAY_REVOLVER
    out[u < p_def + p_late] = REPAY_LATE
    out[u < p_def] = REPAY_DEFAULTER
    return out


@dataclass
class MerchantPicker:
    """Vectorised choice of a merchant by category and city (offline) or category (online)."""

    category: np.ndarray
    city: np.ndarray
    online: np.ndarray
    _off_order: np.ndarray = field(init=False)
    _off_start: np.ndarray = field(init=False)
    _off_cnt: np.ndarray = field(init=False)
    _cat_off_order: np.ndarray = field(init=False)
    _cat_off_start: np.ndarray = field(init=False)
    _cat_off_cnt: np.ndarray = field(init=False)
    _cat_on_order: np.ndarray = field(init=False)
    _cat_on_start: np.ndarray = field(init=False)
    _cat_on_cnt: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        nc, ny = len(ref.CATEGORIES), len(ref.CITY_NAMES)
        off = np.flatnonzero(~self.online)
        on = np.flatnonzero(self.online)

        def index(members: np.ndarray, keys: np.ndarray, size: int):
            order = members[np.argsort(keys, kind="stable")]
            cnt = np.bincount(keys, minlength=size)
            start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            return order, start, cnt

        key = self.category[off].astype(np.int64) * ny + self.city[off]
        self._off_order, self._off_start, self._off_cnt = index(off, key, nc * ny)
        self._cat_off_order, self._cat_off_start, self._cat_off_cnt = index(
            off, self.category[off].astype(np.int64), nc
        )
        self._cat_on_order, self._cat_on_start, self._cat_on_cnt = index(
            on, self.category[on].astype(np.int64), nc
        )

    def pick(
        self, rng: np.random.Generator, category: np.ndarray, city: np.ndarray, online: np.ndarray
    ) -> np.ndarray:
        """A merchant per row; popular merchants are chosen more often (u ** 1.5)."""
        n = len(category)
        u = rng.random(n) ** 1.5
        out = np.full(n, -1, dtype=np.int32)
        cat = category.astype(np.int64)
        key = cat * len(ref.CITY_NAMES) + city
        cnt = self._off_cnt[key]
        m = ~online & (cnt > 0)
        out[m] = self._off_order[self._off_start[key[m]] + (u[m] * cnt[m]).astype(np.int64)]
        for order, start, counts in (
            (self._cat_off_order, self._cat_off_start, self._cat_off_cnt),
            (self._cat_on_order, self._cat_on_start, self._cat_on_cnt),
        ):
            c = counts[cat]
            m = (out < 0) & (c > 0) & ((order is self._cat_on_order) | ~online)
            out[m] = order[start[cat[m]] + (u[m] * c[m]).astype(np.int64)]
        m = out < 0
        if m.any():  # online wanted but the category has none: any offline of the category
            c = self._cat_off_cnt[cat[m]]
            out[m] = self._cat_off_order[self._cat_off_start[cat[m]] + (u[m] * c).astype(np.int64)]
        return out


@dataclass
class World:
    """Customers, cards and merchants of one run (arrays indexed by card = customer index)."""

    start_day: int
    end_day: int
    # customers / cards (one card per customer)
    people: dict[str, np.ndarray]
    customer_since: np.ndarray  # day
    referrer: np.ndarray  # customer index or -1
    card_token: list[str]
    pan_last4: list[str]
    open_day: np.ndarray
    limit: np.ndarray
    tier: np.ndarray
    billing_day: np.ndarray
    due_days: np.ndarray
    annual_fee: np.ndarray
    payday: np.ndarray
    hour_shift: np.ndarray  # personal shift of the daily rhythm, hours (mostly 0, +-1..3)
    activity: np.ndarray  # expected purchases per month
    cat_cum: np.ndarray  # (cards, categories) cumulative category preference
    rep_type: np.ndarray
    stop_pay_from: np.ndarray  # local seconds (NEVER when the customer keeps paying)
    init_balance: np.ndarray
    init_delinquent_day: np.ndarray  # first missed due day for cards delinquent at start, else -1
    # merchants
    m_category: np.ndarray
    m_city: np.ndarray
    m_online: np.ndarray
    m_onboarded: np.ndarray
    m_terminals: np.ndarray
    # applications
    applications: dict[str, np.ndarray]
    next_device: int = 10**10
    picker: MerchantPicker | None = None

    @property
    def n_cards(self) -> int:
        return len(self.limit)

    @property
    def n_merchants(self) -> int:
        return len(self.m_category)

    @property
    def open_ts(self) -> np.ndarray:
        return self.open_day.astype(np.int64) * DAY

    def terminal_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.m_terminals)[:-1]]).astype(np.int64)

    def add_merchants(
        self,
        *,
        category: np.ndarray,
        city: np.ndarray,
        online: np.ndarray,
        onboarded: np.ndarray,
        terminals: np.ndarray,
    ) -> np.ndarray:
        """Append merchants (e.g. a colluding ring) before the picker is built; return indices."""
        if self.picker is not None:
            raise RuntimeError("merchants must be added before the picker is built")
        first = self.n_merchants
        self.m_category = np.concatenate([self.m_category, category.astype(np.int16)])
        self.m_city = np.concatenate([self.m_city, city.astype(np.int16)])
        self.m_online = np.concatenate([self.m_online, online.astype(bool)])
        self.m_onboarded = np.concatenate([self.m_onboarded, onboarded.astype(np.int32)])
        self.m_terminals = np.concatenate([self.m_terminals, terminals.astype(np.int32)])
        return np.arange(first, self.n_merchants)

    def build_picker(self) -> None:
        self.picker = MerchantPicker(
            category=self.m_category, city=self.m_city, online=self.m_online
        )

    def new_devices(self, n: int) -> np.ndarray:
        """Fresh device ids (never seen before) for fraudsters and apps."""
        out = np.arange(self.next_device, self.next_device + n, dtype=np.int64)
        self.next_device += n
        return out

    def terminal_of(self, rng: np.random.Generator, merchant: np.ndarray) -> np.ndarray:
        off = self.terminal_offsets()
        k = (rng.random(len(merchant)) * self.m_terminals[merchant]).astype(np.int64)
        return (off[merchant] + k).astype(np.int32)


def _merchants(rng: np.random.Generator, n: int, start_day: int):
    p = ref.CATEGORY_P**0.7
    cat = rng.choice(len(ref.CATEGORIES), size=n, p=p / p.sum()).astype(np.int16)
    online = rng.random(n) < ref.CATEGORY_ONLINE[cat]
    # every category has at least one merchant of each kind it supports
    extra_cat, extra_on = [], []
    for c in range(len(ref.CATEGORIES)):
        if ref.CATEGORY_ONLINE[c] < 1 and not ((cat == c) & ~online).any():
            extra_cat.append(c)
            extra_on.append(False)
        if ref.CATEGORY_ONLINE[c] > 0 and not ((cat == c) & online).any():
            extra_cat.append(c)
            extra_on.append(True)
    cat = np.concatenate([cat, np.array(extra_cat, dtype=np.int16)])
    online = np.concatenate([online, np.array(extra_on, dtype=bool)])
    n = len(cat)
    foreign = rng.random(n) < 0.03
    city = np.where(
        online,
        np.array(ref.ONLINE_HQ)[rng.integers(0, len(ref.ONLINE_HQ), n)],
        rng.choice(ref.N_DOMESTIC, size=n, p=ref.CITY_P),
    )
    city = np.where(foreign, rng.integers(ref.N_DOMESTIC, len(ref.CITY_NAMES), n), city)
    onboarded = start_day - np.minimum(rng.exponential(5 * 365, n), 25 * 365).astype(np.int32) - 1
    terminals = np.where(online, 1, 1 + np.minimum(rng.poisson(1.5, n), 7)).astype(np.int32)
    return cat, city.astype(np.int16), online, onboarded.astype(np.int32), terminals


def build_world(rng: np.random.Generator, cfg, *, pan_key: bytes) -> World:
    """Draw the world for ``cfg`` (a :class:`~cardmind.simulate.config.SimulationConfig`)."""
    from cardmind.simulate.calendar import date_to_day, month_start_day

    start_day = date_to_day(cfg.period.start)
    end_day = month_start_day(cfg.period.start, cfg.period.months)
    pop = cfg.population
    n0 = int(pop.cards)

    # --- applications during the period: the approved ones become new customers ----------
    n_new_target = round(n0 * pop.new_card_share)
    n_apps = round(n_new_target / max(pop.approval_rate, 1e-9)) if pop.approval_rate > 0 else 0
    apps = draw_people(rng, n_apps, risk_shift=0.5)
    legacy_score = (
        -0.9 * apps["bureau_delinquencies"]
        - 0.25 * apps["bureau_inquiries_6m"]
        + 1.0 * np.log(apps["income_fen"] / 1_000_000)
        + np.array([0.4, 0.3, 0.0, 0.1])[apps["housing"]]
        + 0.15 * apps["education"]
        - 0.8 * apps["existing_debt_fen"] / apps["income_fen"]
        + rng.normal(0.0, 0.8, n_apps)
    )
    if n_apps:
        threshold = (
            np.quantile(legacy_score, 1 - pop.approval_rate) if pop.approval_rate < 1 else -np.inf
        )
        approved = legacy_score >= threshold
    else:
        approved = np.zeros(0, dtype=bool)
    span = max(end_day - start_day - 10, 1)
    applied_ts = (start_day + rng.integers(0, span, n_apps)) * DAY + rng.integers(
        8 * 3600, 22 * 3600, n_apps
    )
    apps["applied_ts"] = applied_ts.astype(np.int64)
    apps["approved"] = approved
    apps["app_limit"] = credit_limit_fen(rng, apps["income_fen"], apps["risk"])
    apps["rep_type"] = repayment_types(apps, pop.default_scale)
    # the day a defaulter stops paying; bad_12m when 90+ DPD comes within 12 months of applying
    apps["stop_day"] = (applied_ts // DAY + 30 + apps["u_default"] * 400).astype(np.int64)
    apps["bad_12m"] = (apps["rep_type"] == REPAY_DEFAULTER) & (
        apps["stop_day"] + 120 <= applied_ts // DAY + 365
    )

    # --- customers: existing + approved applicants ------------------------------------------
    people = draw_people(rng, n0)
    new_idx = np.flatnonzero(approved)
    for k in people:
        people[k] = np.concatenate([people[k], apps[k][new_idx]])
    n = len(people["risk"])
    is_new = np.arange(n) >= n0
    tenure = np.clip(rng.exponential(4 * 365, n), 40, 20 * 365).astype(np.int64)
    since = start_day - tenure
    if len(new_idx):
        since[n0:] = applied_ts[new_idx] // DAY
    open_day = np.where(is_new, since + rng.integers(1, 8, n), since + rng.integers(0, 30, n))
    open_day = np.where(~is_new, np.minimum(open_day, start_day - 1), open_day)
    referrer = np.full(n, -1, dtype=np.int64)
    mgm = people["acq"] == ACQUISITION_CHANNELS.index("mgm_referral")
    older = np.argsort(since, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[older] = np.arange(n)
    has_older = mgm & (rank > 0)
    referrer[has_older] = older[(rng.random(has_older.sum()) * rank[has_older]).astype(np.int64)]

    limit = credit_limit_fen(rng, people["income_fen"], people["risk"])
    if len(new_idx):
        limit[n0:] = apps["app_limit"][new_idx]
    tier = np.searchsorted(np.array([15_000, 50_000, 150_000]) * 100, limit, side="right").astype(
        np.int8
    )
    fee_by_tier = np.array([0, 30_000, 120_000, 360_000])
    waived = rng.random(n) < np.array([1.0, 0.7, 0.3, 0.1])[tier]
    annual_fee = np.where(waived, 0, fee_by_tier[tier]).astype(np.int64)

    rep_type = repayment_types(people, pop.default_scale)
    if len(new_idx):
        rep_type[n0:] = apps["rep_type"][new_idx]
    stop_day = np.where(
        is_new,
        np.concatenate([np.zeros(n0, np.int64), apps["stop_day"][new_idx]]),
        start_day - 150 + (people["u_default"] * (end_day - start_day + 300)).astype(np.int64),
    )
    stop_pay_from = np.where(rep_type == REPAY_DEFAULTER, stop_day * DAY, NEVER).astype(np.int64)

    dormant = rng.random(n) < pop.dormant_share
    shape = max(cfg.spending.activity_dispersion, 1e-3)
    activity = np.where(
        dormant,
        rng.uniform(0.0, 0.6, n),
        cfg.spending.auths_per_card_month
        * rng.gamma(shape, 1.0 / shape, n)
        * people["value"]
        / max(float(np.mean(people["value"])), 1e-9),
    )
    pref = rng.gamma(0.6, 1.0, (n, len(ref.CATEGORIES))) * ref.CATEGORY_P
    cat_cum = np.cumsum(pref / pref.sum(axis=1, keepdims=True), axis=1).astype(np.float32)

    # balances at the start: full payers owe last month's spend, revolvers 20-80 % of the line
    avg_ticket = 230_00
    util = np.select(
        [rep_type == REPAY_FULL, rep_type == REPAY_DEFAULTER],
        [
            np.minimum(activity * avg_ticket / limit, 0.6) * rng.uniform(0.5, 1.2, n),
            rng.uniform(0.6, 1.0, n),
        ],
        rng.uniform(0.2, 0.8, n),
    )
    init_balance = np.where(is_new, 0, (util * limit).round(-2)).astype(np.int64)
    init_delinquent = np.where(
        (rep_type == REPAY_DEFAULTER) & ~is_new & (stop_day < start_day - 25),
        stop_day + 25,
        -1,
    ).astype(np.int64)

    tokens, last4 = _tokens(rng, n, pan_key)

    n_m = max(300, round(n0 * pop.merchants_per_1000_cards / 1000))
    m_cat, m_city, m_online, m_onb, m_term = _merchants(rng, n_m, start_day)

    return World(
        start_day=start_day,
        end_day=end_day,
        people=people,
        customer_since=since.astype(np.int64),
        referrer=referrer,
        card_token=tokens,
        pan_last4=last4,
        open_day=open_day.astype(np.int64),
        limit=limit,
        tier=tier,
        billing_day=rng.integers(1, 29, n).astype(np.int8),
        due_days=rng.choice(np.array([20, 22, 25], dtype=np.int8), size=n, p=[0.3, 0.3, 0.4]),
        annual_fee=annual_fee,
        payday=rng.choice(ref.PAYDAYS, size=n, p=ref.PAYDAY_P).astype(np.int8),
        hour_shift=np.clip(np.round(rng.normal(0.0, 1.0, n)), -3, 3).astype(np.int64),
        activity=activity,
        cat_cum=cat_cum,
        rep_type=rep_type,
        stop_pay_from=stop_pay_from,
        init_balance=init_balance,
        init_delinquent_day=init_delinquent,
        m_category=m_cat,
        m_city=m_city,
        m_online=m_online,
        m_onboarded=m_onb,
        m_terminals=m_term,
        applications=apps,
    )
