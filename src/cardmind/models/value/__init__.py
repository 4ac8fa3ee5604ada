"""Customer value: monthly metrics, a profit formula, a forward-value model, tiers, the quality report.

Modules: :mod:`.metrics` (monthly customer metrics from events, DuckDB), :mod:`.config` (profit
parameters, ``value.yaml``), :mod:`.profit` (realised profit from metrics), :mod:`.model`
(LightGBM forward-value regressor), :mod:`.tiers` (editable tier rules, ``tiers.yaml``),
:mod:`.quality` (the "how many purchases a month make a quality customer" report).
"""
