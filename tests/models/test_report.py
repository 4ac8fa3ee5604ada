import base64
import re

import pytest

from cardmind.errors import InvalidInput
from cardmind.models.report import write_report


@pytest.fixture
def result(synthetic_evaluation):
    return synthetic_evaluation


def test_markdown_report_has_every_section_and_real_plots(result, tmp_path):
    path = write_report(result, tmp_path / "rep" / "fraud.md")
    text = path.read_text()
    for section in (
        "## Protocol",
        "## Headline",
        "## Fraud amount caught versus review cost",
        "## Recall per scenario",
        "## The model",
        "## Where it is weak",
    ):
        assert section in text
    for name in ("LightGBM (calibrated)", "Logistic regression", "Rules only"):
        assert text.count(name) >= 2
    for img in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (path.parent / img).read_bytes().startswith(b"\x89PNG")
    ap = f"{result.main.metrics['lightgbm'].ap:.3f}"
    assert ap in text


def test_html_report_embeds_the_plots(result, tmp_path):
    text = write_report(result, tmp_path / "fraud.html").read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 2
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")


def test_unknown_report_format_is_refused(result, tmp_path):
    with pytest.raises(InvalidInput, match=r"\.md or \.html"):
        write_report(result, tmp_path / "fraud.pdf")
