"""Maximum-likelihood fits recover the published CDNOW parameters; the command prints them as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.predictions.__main__ import main, read_summary
from chalicelib.predictions.clv import CustomerHistory
from chalicelib.predictions.fit import fit_bgnbd, fit_gamma_gamma, sample_population

CDNOW_FILE = Path(__file__).resolve().parents[2] / "data" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> list[CustomerHistory]:
    histories, problems = read_summary(CDNOW_FILE)
    assert problems == [] and len(histories) == 2357
    return histories


def test_bgnbd_fit_recovers_the_papers_cdnow_parameters(cdnow: list[CustomerHistory]) -> None:
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    params, report = fit_bgnbd(cdnow)
    assert (params.r, params.alpha, params.a, params.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=0.001)
    assert report.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert report.converged and report.customers == 2357 and report.extra["repeat_customers"] == 946


def test_gamma_gamma_fit_recovers_the_published_cdnow_parameters(cdnow: list[CustomerHistory]) -> None:
    # Fader & Hardie (2013): p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat customers
    params, report = fit_gamma_gamma(cdnow)
    assert (params.p, params.q, params.v) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    assert report.customers == 946 and report.converged


def test_a_sample_is_uniform_bounded_and_repeatable(cdnow: list[CustomerHistory]) -> None:
    sample = sample_population(cdnow, 500, seed=7)
    assert len(sample) == 500 and sample == sample_population(cdnow, 500, seed=7)
    assert sample_population(cdnow[:10], 500) == cdnow[:10]


def test_fits_refuse_an_impossible_population() -> None:
    with pytest.raises(ValueError, match="no customers"):
        fit_bgnbd([])
    with pytest.raises(ValueError, match="recency"):
        fit_bgnbd([CustomerHistory(x=1, t_x=10, T=5)])
    with pytest.raises(ValueError, match="no repeat customers"):
        fit_gamma_gamma([CustomerHistory(x=0, t_x=0, T=5)])


def test_the_command_prints_both_models_as_json_and_names_refused_lines(tmp_path: Path, capsys) -> None:
    assert main([str(CDNOW_FILE)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 2357 and out["bgnbd"]["params"]["r"] == pytest.approx(0.243, abs=0.001)
    assert out["gamma_gamma"]["params"]["p"] == pytest.approx(6.25, abs=0.01)

    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,frequency,recency,T,monetary_value\n1,x,1,2,3\n2,1,5,3,10\n3,1,2,9,10\n")
    assert main([str(bad)]) == 0
    captured = capsys.readouterr()
    assert "line 2: not a number" in captured.err and "line 3: needs frequency" in captured.err
    assert json.loads(captured.out)["rejected"] == 2
