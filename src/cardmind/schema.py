"""The event and entity tables: one typed schema for simulated and imported data alike.

Conventions that hold in every table:

- money is ``int64`` fen (分); never a float;
- timestamps are ``timestamp[us, tz=Asia/Shanghai]``; dates are ``date32`` in Asia/Shanghai;
- a card is identified by ``card_token`` (HMAC of the card number, see :mod:`cardmind.privacy`)
  and ``pan_last4``; no table has a column that can hold a full card number, CVV or PIN;
- identifiers are strings (a bank's own ids import as they are);
- tables whose name starts with ``truth_`` exist only in simulated data: they hold the ground
  truth that evaluation reads. Features, models and policies never read them.

On disk a dataset is a folder with one sub-folder per table holding Parquet files
(``DIR/authorizations/part-000.parquet`` ...) and a ``manifest.json``.

>>> AUTHORIZATIONS.arrow_schema().field("amount_fen").type
DataType(int64)
>>> TABLES["cards"].primary_key
('card_token',)
>>> sorted(t for t in TABLES if t.startswith("truth_"))[:2]
['truth_applications', 'truth_authorizations']
>>> any(is_sensitive_field_name(c.name) for t in TABLES.values() for c in t.columns)
False
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from cardmind.privacy import is_sensitive_field_name
from cardmind.units import TIMEZONE_NAME

SCHEMA_VERSION = "1"

MONEY = pa.int64()
TIMESTAMP = pa.timestamp("us", tz=TIMEZONE_NAME)
DATE = pa.date32()
ID = pa.string()

# Vocabularies (the simulator and the importer both validate against these).
CHANNELS = ("pos_chip", "contactless", "online_cnp", "qr", "wallet")
MESSAGE_TYPES = ("purchase", "reversal", "refund")
CARD_STATUSES = ("active", "frozen", "closed", "charged_off")
PRODUCT_TIERS = ("classic", "gold", "platinum", "diamond")
REPAYMENT_CHANNELS = ("auto_debit", "mobile_banking", "bank_transfer", "third_party_app", "counter")
INSTALLMENT_KINDS = ("purchase", "statement")
INSTALLMENT_PERIODS = (3, 6, 12, 24)
ACQUISITION_CHANNELS = ("branch", "online", "mgm_referral", "partner_cobrand", "telesales")
LABEL_KINDS = ("fraud", "chargeback", "genuine")
# Labels that mark an authorization as fraud (the fraud model's positives, label features' counts).
FRAUD_LABELS = ("fraud", "chargeback")


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column: name, Arrow type, nullability and a one-line meaning."""

    name: str
    type: pa.DataType
    doc: str
    nullable: bool = False

    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable, metadata={"doc": self.doc})


@dataclass(frozen=True, kw_only=True)
class Table:
    """A typed table: columns, primary key, and what one row means."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    time_column: str | None = None
    truth: bool = False
    _index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {c.name: c for c in self.columns}
        if len(index) != len(self.columns):
            raise ValueError(f"table {self.name}: duplicate column names")
        missing = [k for k in (*self.primary_key, self.time_column) if k and k not in index]
        if missing:
            raise ValueError(f"table {self.name}: key or time column not in columns: {missing}")
        secret = [c.name for c in self.columns if is_sensitive_field_name(c.name)]
        if secret:
            raise ValueError(f"table {self.name}: columns {secret} would hold CVV/PIN/passwords")
        object.__setattr__(self, "_index", index)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"table {self.name} has no column {name!r}") from None

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([c.arrow_field() for c in self.columns], metadata={"table": self.name})

    def required(self) -> list[str]:
        """Columns that must be present and non-null."""
        return [c.name for c in self.columns if not c.nullable]


def _c(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> Column:
    return Column(name=name, type=type_, doc=doc, nullable=nullable)


CUSTOMERS = Table(
    name="customers",
    doc="One row per customer (持卡人): demographics known to the issuer at onboarding.",
    primary_key=("customer_id",),
    columns=(
        _c("customer_id", ID, "Issuer's customer identifier."),
        _c("birth_date", DATE, "Date of birth."),
        _c("gender", pa.string(), "Protected attribute (F/M); never a decision input.", True),
        _c("monthly_income_fen", MONEY, "Declared monthly income in fen."),
        _c("occupation", pa.string(), "Occupation class (civil_servant, soe_employee, ...)."),
        _c("city", pa.string(), "City of residence."),
        _c("city_tier", pa.int8(), "City tier 1 (Beijing, Shanghai, ...) to 4."),
        _c("education", pa.string(), "Highest education (high_school, college, bachelor, ...)."),
        _c("housing", pa.string(), "Housing status (own_no_mortgage, mortgage, rent, family)."),
        _c("customer_since", DATE, "Date the customer relationship began (tenure)."),
        _c("acquisition_channel", pa.string(), f"How acquired: one of {ACQUISITION_CHANNELS}."),
        _c("referrer_customer_id", ID, "Referring customer for member-get-member.", True),
    ),
)

CARDS = Table(
    name="cards",
    doc="One row per card account (卡/账户). Identified by card token and last four digits.",
    primary_key=("card_token",),
    columns=(
        _c("card_token", ID, "HMAC-SHA256 token of the card number (32 hex chars)."),
        _c("pan_last4", pa.string(), "Last four digits of the card number."),
        _c("customer_id", ID, "Owner of the card."),
        _c("product_tier", pa.string(), f"Product tier: one of {PRODUCT_TIERS}."),
        _c("credit_limit_fen", MONEY, "Permanent credit limit at the start of the data."),
        _c("opened_at", DATE, "Date the card account was opened."),
        _c("billing_day", pa.int8(), "Day of month the statement is cut (1-28)."),
        _c(
            "due_days", pa.int8(), "Days from statement date to payment due date (typically 20-25)."
        ),
        _c("annual_fee_fen", MONEY, "Annual fee in fen (0 when waived)."),
        _c("status", pa.string(), f"Status at the end of the data: one of {CARD_STATUSES}."),
    ),
)

MERCHANTS = Table(
    name="merchants",
    doc="One row per merchant (商户) as known to the acquirer/issuer.",
    primary_key=("merchant_id",),
    columns=(
        _c("merchant_id", ID, "Merchant identifier."),
        _c("mcc", pa.string(), "ISO 18245 merchant category code (4 digits)."),
        _c("category", pa.string(), "Category group derived from the MCC (dining, travel, ...)."),
        _c("city", pa.string(), "Merchant city."),
        _c("onboarded_at", DATE, "Date the merchant was onboarded (merchant age)."),
        _c("online", pa.bool_(), "True when the merchant sells card-not-present."),
    ),
)

AUTHORIZATIONS = Table(
    name="authorizations",
    doc="One row per authorization message (授权): purchases, reversals and refunds.",
    primary_key=("auth_id",),
    time_column="ts",
    columns=(
        _c("auth_id", ID, "Unique authorization id."),
        _c("ts", TIMESTAMP, "When the authorization was requested."),
        _c("card_token", ID, "Card token."),
        _c("customer_id", ID, "Card owner."),
        _c("merchant_id", ID, "Merchant."),
        _c("terminal_id", ID, "Terminal (POS, QR code or online gateway)."),
        _c("device_id", ID, "Customer device for online/wallet/QR payments.", True),
        _c("amount_fen", MONEY, "Amount in fen, always > 0 (the message type gives the sign)."),
        _c("mcc", pa.string(), "Merchant category code."),
        _c("channel", pa.string(), f"Channel: one of {CHANNELS}."),
        _c("city", pa.string(), "City where the transaction happened."),
        _c(
            "cross_border",
            pa.bool_(),
            "True for a foreign merchant.",
        ),
        _c("message_type", pa.string(), f"One of {MESSAGE_TYPES}."),
        _c("original_auth_id", ID, "For reversals and refunds: the purchase they undo.", True),
        _c("available_credit_fen", MONEY, "Available credit just before this authorization."),
        _c("response_code", pa.string(), "ISO 8583 response: 00 approved, 51 insufficient, ..."),
        _c("approved", pa.bool_(), "True when the authorization was approved."),
        _c("temp_credit_fen", MONEY, "Temporary credit granted to let it through (0 if none)."),
    ),
)

TEMP_CREDITS = Table(
    name="temp_credits",
    doc="Temporary (transaction-level) credit grants: every over-limit approval has one.",
    primary_key=("grant_id",),
    time_column="granted_at",
    columns=(
        _c("grant_id", ID, "Grant identifier."),
        _c("auth_id", ID, "Authorization it let through."),
        _c("card_token", ID, "Card token."),
        _c("amount_fen", MONEY, "Credit granted above the permanent limit."),
        _c("granted_at", TIMESTAMP, "When granted."),
        _c("expires_at", TIMESTAMP, "When the temporary credit lapses."),
    ),
)

STATEMENTS = Table(
    name="statements",
    doc=(
        "One row per card and billing cycle (账单). Identity: new_balance = previous_balance - "
        "repayments + purchases + interest + fees - reversals."
    ),
    primary_key=("statement_id",),
    time_column="statement_date",
    columns=(
        _c("statement_id", ID, "Statement identifier."),
        _c("card_token", ID, "Card token."),
        _c("customer_id", ID, "Card owner."),
        _c("cycle_start", DATE, "First day of the cycle."),
        _c("statement_date", DATE, "Day the statement was cut (last day of the cycle)."),
        _c("due_date", DATE, "Payment due date."),
        _c("credit_limit_fen", MONEY, "Permanent credit limit at the statement date."),
        _c("previous_balance_fen", MONEY, "New balance of the previous statement."),
        _c("repayments_fen", MONEY, "Repayments posted in the cycle."),
        _c("purchases_fen", MONEY, "Purchases posted plus installment principal billed."),
        _c("interest_fen", MONEY, "Interest charged in the cycle."),
        _c("fees_fen", MONEY, "Fees: late fee, installment fees, annual fee, over-limit fee."),
        _c("reversals_fen", MONEY, "Reversals and refunds credited in the cycle."),
        _c("new_balance_fen", MONEY, "Balance owed at the statement date."),
        _c("minimum_due_fen", MONEY, "Minimum payment due."),
        _c(
            "installment_outstanding_fen", MONEY, "Unbilled installment principal (not in balance)."
        ),
        _c("days_past_due", pa.int16(), "Days past due at the statement date (0 if current)."),
    ),
)

REPAYMENTS = Table(
    name="repayments",
    doc="One row per repayment (还款) credited to a card.",
    primary_key=("repayment_id",),
    time_column="ts",
    columns=(
        _c("repayment_id", ID, "Repayment identifier."),
        _c("ts", TIMESTAMP, "When the repayment was credited."),
        _c("card_token", ID, "Card token."),
        _c("customer_id", ID, "Card owner."),
        _c("amount_fen", MONEY, "Amount repaid in fen (> 0)."),
        _c("channel", pa.string(), f"Channel: one of {REPAYMENT_CHANNELS}."),
        _c("payer_is_cardholder", pa.bool_(), "False when a third party's account paid."),
    ),
)

INSTALLMENT_PLANS = Table(
    name="installment_plans",
    doc="Installment conversions (分期) of a purchase or a statement.",
    primary_key=("plan_id",),
    time_column="created_at",
    columns=(
        _c("plan_id", ID, "Plan identifier."),
        _c("card_token", ID, "Card token."),
        _c("customer_id", ID, "Card owner."),
        _c("kind", pa.string(), f"One of {INSTALLMENT_KINDS}."),
        _c("source_id", ID, "auth_id (purchase) or statement_id (statement) converted."),
        _c("created_at", TIMESTAMP, "When the customer accepted the conversion."),
        _c("principal_fen", MONEY, "Amount converted."),
        _c("periods", pa.int16(), f"Number of monthly periods: one of {INSTALLMENT_PERIODS}."),
        _c("fee_rate_bp", pa.int32(), "Fee per period in basis points of the principal."),
        _c("fee_total_fen", MONEY, "Total fee over the plan."),
        _c("offered", pa.bool_(), "True when it followed an issuer offer."),
    ),
)

APPLICATIONS = Table(
    name="applications",
    doc="Card applications (申请) with the issuer's legacy decision.",
    primary_key=("application_id",),
    time_column="applied_at",
    columns=(
        _c("application_id", ID, "Application identifier."),
        _c("applied_at", TIMESTAMP, "When submitted."),
        _c("age", pa.int16(), "Age in years at application."),
        _c("gender", pa.string(), "Protected attribute; never a decision input.", True),
        _c("monthly_income_fen", MONEY, "Declared monthly income."),
        _c("occupation", pa.string(), "Occupation class."),
        _c("city", pa.string(), "City of residence."),
        _c("city_tier", pa.int8(), "City tier 1-4."),
        _c("education", pa.string(), "Education."),
        _c("housing", pa.string(), "Housing status."),
        _c("employment_years", pa.int16(), "Years with the current employer."),
        _c("existing_debt_fen", MONEY, "Monthly debt service declared or from the bureau."),
        _c("bureau_inquiries_6m", pa.int16(), "Credit bureau inquiries in the last 6 months."),
        _c("bureau_delinquencies", pa.int16(), "Past delinquencies on the bureau report."),
        _c("channel", pa.string(), f"Application channel: one of {ACQUISITION_CHANNELS}."),
        _c("decision", pa.string(), "Legacy decision: approved or rejected."),
        _c("credit_limit_fen", MONEY, "Line assigned when approved.", True),
        _c("customer_id", ID, "Customer created when approved.", True),
    ),
)

LABELS = Table(
    name="fraud_labels",
    doc="Fraud reports, chargebacks and confirmations as the issuer learns them (delayed).",
    primary_key=("auth_id",),
    time_column="reported_at",
    columns=(
        _c("auth_id", ID, "Authorization labelled."),
        _c("card_token", ID, "Card token."),
        _c("label", pa.string(), f"One of {LABEL_KINDS}."),
        _c("reported_at", TIMESTAMP, "When the issuer learned the label."),
        _c("scenario", pa.string(), "Fraud type when known (lost_stolen, cnp_breach, ...).", True),
    ),
)

CHARGE_OFFS = Table(
    name="charge_offs",
    doc="Accounts written off (核销) after 90+ days past due, or bust-out discovered.",
    primary_key=("card_token",),
    time_column="charged_off_at",
    columns=(
        _c("card_token", ID, "Card charged off."),
        _c("customer_id", ID, "Card owner."),
        _c("charged_off_at", DATE, "Date of charge-off."),
        _c("amount_fen", MONEY, "Balance written off."),
    ),
)

APPLICATION_OUTCOMES = Table(
    name="application_outcomes",
    doc=(
        "Outcomes a bank observes on booked applications (e.g. its own 'bad' definition), as "
        "imported with the applications; not simulator truth."
    ),
    primary_key=("application_id",),
    columns=(
        _c("application_id", ID, "Application the outcome belongs to."),
        _c("bad", pa.bool_(), "True when the account turned out bad by the bank's definition."),
        _c("observed_at", TIMESTAMP, "When the outcome was observed, when known.", True),
    ),
)

# --- ground truth (simulated data only) -------------------------------------------------------

TRUTH_CUSTOMERS = Table(
    name="truth_customers",
    doc="Latent traits the simulator drew for each customer (never a model input).",
    primary_key=("customer_id",),
    truth=True,
    columns=(
        _c("customer_id", ID, "Customer."),
        _c("risk", pa.float64(), "Latent credit risk in [0, 1]."),
        _c("value", pa.float64(), "Latent spending value multiplier."),
        _c("installment_propensity", pa.float64(), "Probability scale of accepting installments."),
        _c("offer_responsiveness", pa.float64(), "Probability scale of responding to offers."),
        _c("repayment_type", pa.string(), "full_payer, revolver, late_payer or defaulter."),
        _c("defaulted_at", DATE, "Date the customer reached 90+ days past due.", True),
    ),
)

TRUTH_AUTHORIZATIONS = Table(
    name="truth_authorizations",
    doc="Ground truth per authorization that belongs to a scenario (others are genuine).",
    primary_key=("auth_id",),
    truth=True,
    columns=(
        _c("auth_id", ID, "Authorization."),
        _c("scenario", pa.string(), "Scenario name (lost_stolen, cashout_app, ...)."),
        _c("episode_id", ID, "Episode the authorization belongs to."),
        _c("is_fraud", pa.bool_(), "True for third-party fraud; False for cash-out/bust-out."),
    ),
)

TRUTH_EPISODES = Table(
    name="truth_episodes",
    doc="One row per scenario episode: who, where, when, with its parameters as JSON.",
    primary_key=("episode_id",),
    truth=True,
    columns=(
        _c("episode_id", ID, "Episode identifier."),
        _c("scenario", pa.string(), "Scenario name."),
        _c("card_token", ID, "Card affected (null for merchant-level episodes).", True),
        _c("customer_id", ID, "Customer affected.", True),
        _c("merchant_ids", pa.list_(pa.string()), "Merchants involved (ring, compromised point)."),
        _c("start_at", TIMESTAMP, "Episode start."),
        _c("end_at", TIMESTAMP, "Episode end."),
        _c("params", pa.string(), "Episode parameters as JSON."),
    ),
)

TRUTH_APPLICATIONS = Table(
    name="truth_applications",
    doc="True 12-month outcome of every application, approved or rejected.",
    primary_key=("application_id",),
    truth=True,
    columns=(
        _c("application_id", ID, "Application."),
        _c("risk", pa.float64(), "Latent risk of the applicant."),
        _c("bad_12m", pa.bool_(), "True when the applicant would reach 90+ DPD within 12 months."),
    ),
)

TRUTH_INSTALLMENT_RESPONSES = Table(
    name="truth_installment_offers",
    doc="Simulated installment offers and whether the customer accepted (for uplift evaluation).",
    primary_key=("offer_id",),
    time_column="offered_at",
    truth=True,
    columns=(
        _c("offer_id", ID, "Offer identifier."),
        _c("card_token", ID, "Card token."),
        _c("kind", pa.string(), f"One of {INSTALLMENT_KINDS}."),
        _c("source_id", ID, "auth_id or statement_id offered."),
        _c("offered_at", TIMESTAMP, "When offered."),
        _c("periods", pa.int16(), "Periods offered."),
        _c("fee_rate_bp", pa.int32(), "Fee per period offered."),
        _c("list_fee_rate_bp", pa.int32(), "Fee per period of the schedule (the pricing test discounts it)."),
        _c("list_accept_probability", pa.float64(), "True probability of acceptance at the list fee."),
        _c("price_sensitivity", pa.float64(), "True logit gain of a 100 % fee discount."),
        _c("accept_probability", pa.float64(), "True probability of acceptance."),
        _c("accepted", pa.bool_(), "Whether the customer accepted."),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CUSTOMERS,
        CARDS,
        MERCHANTS,
        AUTHORIZATIONS,
        TEMP_CREDITS,
        STATEMENTS,
        REPAYMENTS,
        INSTALLMENT_PLANS,
        APPLICATIONS,
        LABELS,
        CHARGE_OFFS,
        APPLICATION_OUTCOMES,
        TRUTH_CUSTOMERS,
        TRUTH_AUTHORIZATIONS,
        TRUTH_EPISODES,
        TRUTH_APPLICATIONS,
        TRUTH_INSTALLMENT_RESPONSES,
    )
}


def conform(table: pa.Table, name: str) -> pa.Table:
    """Return ``table`` with exactly the columns of schema ``name``, in order and cast.

    Raises ``ValueError`` naming missing columns or columns that cannot be cast.

    >>> t = pa.table({"auth_id": ["a"], "label": ["fraud"], "card_token": ["t"],
    ...               "reported_at": pa.array([0], pa.timestamp("us", tz="UTC"))})
    >>> conform(t, "fraud_labels").schema.field("reported_at").type
    TimestampType(timestamp[us, tz=Asia/Shanghai])
    """
    spec = TABLES[name]
    missing = [c.name for c in spec.columns if c.name not in table.column_names and not c.nullable]
    if missing:
        raise ValueError(f"{name}: missing required columns {missing}")
    arrays = []
    for col in spec.columns:
        if col.name in table.column_names:
            arr = table.column(col.name)
            if arr.type != col.type:
                try:
                    arr = arr.cast(col.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueError(
                        f"{name}.{col.name}: cannot cast {arr.type} to {col.type}: {exc}"
                    ) from exc
        else:
            arr = pa.nulls(table.num_rows, col.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema())


def describe_markdown() -> str:
    """The data dictionary as Markdown (used by the docs and ``cardmind schema``)."""
    lines: list[str] = []
    for t in TABLES.values():
        lines += [
            f"### `{t.name}`",
            "",
            t.doc,
            "",
            "| column | type | null | meaning |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |"
            for c in t.columns
        ]
        lines.append("")
    return "\n".join(lines)
