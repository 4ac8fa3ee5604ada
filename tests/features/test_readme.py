"""The README's customer-profile example runs."""

from __future__ import annotations

import re
from pathlib import Path


def test_readme_features_example_runs():
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("## Customer profile (features)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
