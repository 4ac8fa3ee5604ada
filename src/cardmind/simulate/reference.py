"""Reference tables of the simulated Chinese market: cities, merchant categories, channels.

Figures are rounded from public sources and stated where used:

- City tiers and weights: the common 一线/新一线/二线 classification (Yicai 2023 ranking) and
  urban populations (NBS 2020 census), capped so tier-1 cities hold ~30 % of card spending, in line
  with PBoC regional payment statistics.
- MCC mix: ISO 18245 codes; category shares of transaction *count* follow the order of magnitude
  of UnionPay/NetsUnion category reports (groceries and dining dominate counts; travel,
  electronics and jewellery dominate amounts). Median tickets in yuan are typical 2023 prices.
- Channels: PBoC Payment System Reports 2023 show QR/mobile payments overtaking card-present
  swipes for small tickets; a credit card is often bound to Alipay/WeChat Pay (wallet/QR).

>>> len(CATEGORIES) == len(CATEGORY_MCC) == len(CATEGORY_MEDIAN_YUAN)
True
>>> CITY_NAMES[:2], int(CITY_TIER[0])
(('Beijing', 'Shanghai'), 1)
"""

from __future__ import annotations

import numpy as np

from cardmind.schema import CHANNELS

# name, tier, relative weight (card holders)
_CITIES = (
    ("Beijing", 1, 9.0),
    ("Shanghai", 1, 9.0),
    ("Guangzhou", 1, 7.0),
    ("Shenzhen", 1, 7.0),
    ("Chengdu", 2, 5.0),
    ("Hangzhou", 2, 5.0),
    ("Chongqing", 2, 4.5),
    ("Wuhan", 2, 4.0),
    ("Xian", 2, 3.5),
    ("Suzhou", 2, 3.5),
    ("Nanjing", 2, 3.5),
    ("Tianjin", 2, 3.0),
    ("Changsha", 2, 3.0),
    ("Zhengzhou", 2, 3.0),
    ("Qingdao", 2, 2.5),
    ("Kunming", 2, 2.0),
    ("Xiamen", 2, 2.0),
    ("Hefei", 2, 2.5),
    ("Luoyang", 3, 1.5),
    ("Guilin", 3, 1.2),
    ("Yangzhou", 3, 1.2),
    ("Weifang", 3, 1.3),
    ("Baoding", 3, 1.3),
    ("Zhuhai", 3, 1.0),
    ("Ganzhou", 4, 1.0),
    ("Zunyi", 4, 0.9),
    ("Shangrao", 4, 0.8),
    ("Nanchong", 4, 0.8),
)
_FOREIGN = ("Hong Kong", "Tokyo", "Seoul", "Bangkok", "Singapore", "Paris")

CITY_NAMES: tuple[str, ...] = tuple(c[0] for c in _CITIES) + _FOREIGN
N_DOMESTIC = len(_CITIES)
CITY_TIER = np.array([c[1] for c in _CITIES] + [0] * len(_FOREIGN), dtype=np.int8)
_w = np.array([c[2] for c in _CITIES])
CITY_P = _w / _w.sum()
ONLINE_HQ = tuple(CITY_NAMES.index(c) for c in ("Beijing", "Shanghai", "Hangzhou", "Shenzhen"))

# category, MCC, share of transaction count, median ticket (yuan), log-sd, share online
_CATS = (
    ("supermarket", "5411", 0.15, 110, 0.8, 0.05),
    ("dining", "5812", 0.15, 95, 0.7, 0.0),
    ("fast_food", "5814", 0.08, 35, 0.5, 0.0),
    ("fuel", "5541", 0.04, 300, 0.4, 0.0),
    ("ride_hailing", "4121", 0.06, 30, 0.6, 1.0),
    ("online_marketplace", "5399", 0.12, 170, 1.0, 1.0),
    ("clothing", "5651", 0.05, 350, 0.8, 0.3),
    ("department_store", "5311", 0.035, 480, 0.9, 0.0),
    ("electronics", "5732", 0.02, 2200, 0.8, 0.5),
    ("appliances", "5722", 0.012, 2600, 0.7, 0.3),
    ("jewellery", "5944", 0.008, 3500, 0.9, 0.1),
    ("pharmacy", "5912", 0.03, 90, 0.7, 0.1),
    ("hospital", "8062", 0.012, 450, 1.0, 0.0),
    ("education", "8299", 0.008, 3000, 0.8, 0.4),
    ("airlines", "4511", 0.012, 1300, 0.5, 1.0),
    ("railway", "4112", 0.02, 330, 0.6, 1.0),
    ("hotels", "7011", 0.02, 560, 0.6, 0.5),
    ("telecom", "4814", 0.03, 100, 0.4, 1.0),
    ("utilities", "4900", 0.02, 200, 0.6, 1.0),
    ("entertainment", "7832", 0.03, 120, 0.6, 0.5),
    ("digital_goods", "5815", 0.035, 40, 1.0, 1.0),
    ("misc_retail", "5999", 0.03, 280, 0.9, 0.3),
)
CATEGORIES: tuple[str, ...] = tuple(c[0] for c in _CATS)
CATEGORY_MCC: tuple[str, ...] = tuple(c[1] for c in _CATS)
_s = np.array([c[2] for c in _CATS])
CATEGORY_P = _s / _s.sum()
CATEGORY_MEDIAN_YUAN = np.array([c[3] for c in _CATS], dtype=np.float64)
CATEGORY_SIGMA = np.array([c[4] for c in _CATS], dtype=np.float64)
CATEGORY_ONLINE = np.array([c[5] for c in _CATS], dtype=np.float64)
CAT = {name: i for i, name in enumerate(CATEGORIES)}

CH = {name: i for i, name in enumerate(CHANNELS)}
# channel mix of offline (card-present) and online purchases
OFFLINE_CHANNEL_P = np.array([0.35, 0.20, 0.0, 0.30, 0.15])  # pos_chip, contactless, -, qr, wallet
ONLINE_CHANNEL_P = np.array([0.0, 0.0, 0.50, 0.20, 0.30])

OCCUPATIONS = (
    "civil_servant",
    "soe_employee",
    "private_employee",
    "self_employed",
    "professional",
    "worker",
    "student",
    "retired",
)
OCCUPATION_P = np.array([0.07, 0.15, 0.40, 0.12, 0.12, 0.09, 0.02, 0.03])
OCCUPATION_INCOME = np.array([1.2, 1.25, 1.0, 1.1, 1.6, 0.7, 0.35, 0.8])
OCCUPATION_RISK = np.array([-0.5, -0.4, 0.0, 0.35, -0.3, 0.25, 0.5, -0.2])
EDUCATIONS = ("high_school", "college", "bachelor", "master", "doctorate")
EDUCATION_P = np.array([0.2, 0.3, 0.38, 0.1, 0.02])
EDUCATION_INCOME = np.array([0.7, 0.85, 1.0, 1.35, 1.6])
HOUSING = ("own_no_mortgage", "mortgage", "rent", "family")
HOUSING_P = np.array([0.25, 0.35, 0.28, 0.12])
HOUSING_RISK = np.array([-0.3, -0.1, 0.25, 0.15])
# Median monthly income (yuan) by city tier 1..4: NBS 2023 urban disposable income, scaled
# to the card-holding population (card holders earn more than the average resident).
TIER_INCOME_YUAN = np.array([0, 14_000, 10_000, 7_500, 6_000], dtype=np.float64)
ACQ_P = np.array([0.25, 0.30, 0.15, 0.15, 0.15])  # order of schema.ACQUISITION_CHANNELS
PAYDAYS = np.array([1, 5, 10, 15, 20, 25])
PAYDAY_P = np.array([0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
