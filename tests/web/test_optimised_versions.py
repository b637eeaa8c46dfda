"""A version an optimisation made says so where a person reviews and approves it."""

from __future__ import annotations

from nl_trader.data.run_data import RunData
from nl_trader.lifecycle import backtest_from
from nl_trader.lifecycle.optimisations import adopt, record
from tests.store.builders import PASSED
from tests.web.conftest import Web


def test_the_approve_page_of_an_optimised_version_names_the_optimisation_and_its_trials(
    web: Web,
) -> None:
    with web.store() as store:
        found = record(
            store,
            PASSED,
            kind="optimize",
            method="grid",
            engine="local",
            params=["indicators.fast.params.period=10:30:10"],
            constraints=[],
            objectives=["total_net_profit"],
            data={"source": "sample", "symbol": "EURUSD", "from": None, "to": None, "bars": 2000},
            settings={},
            trials=3,
            best={"values": {"indicators.fast.params.period": 10}},
            overfitting={"deflated_sharpe": 0.31, "pbo": 0.62},
            out_of_sample=None,
            study_name="s",
            elapsed_s=0.5,
            by="quant",
        )
        adopt(store, found.id, by="quant")
        run = backtest_from(
            store, PASSED, RunData.of("sample", "EURUSD", sample_size=2000), by="quant"
        )
    web.sign_in("bo")
    page = web.client.get(f"/strategies/{PASSED}/approve?run={run.id}").text
    assert f"From optimisation {found.id} of 3 trials (deflated Sharpe 0.31, PBO 0.62)" in page
    strategy = web.client.get(f"/strategies/{PASSED}").text
    assert f"From optimisation {found.id} of 3 trials" in strategy


def _recorded(web: Web) -> int:
    with web.store() as store:
        return record(
            store,
            PASSED,
            kind="optimize",
            method="tpe",
            engine="local",
            params=["indicators.fast.params.period=10:30:10"],
            constraints=[],
            objectives=["sharpe_ratio"],
            data={"source": "sample", "symbol": "EURUSD", "from": None, "to": None, "bars": 2000},
            settings={},
            trials=12,
            best={"values": {"indicators.fast.params.period": 30}},
            overfitting={"deflated_sharpe": 0.81, "pbo": 0.2, "stability": 0.9},
            out_of_sample=None,
            study_name="s",
            elapsed_s=0.5,
            by="quant",
        ).id


def test_a_strategys_page_lists_its_optimisations_and_an_author_adopts_the_chosen_set(
    web: Web,
) -> None:
    found = _recorded(web)
    web.sign_in("ana")
    page = web.client.get(f"/strategies/{PASSED}").text
    assert "Optimisations" in page
    assert "indicators.fast.params.period=30" in page
    assert "0.81" in page
    assert f'action="/optimisations/{found}/adopt"' in page
    answer = web.post(f"/optimisations/{found}/adopt")
    assert answer.status_code in (200, 303), answer.text
    with web.store() as store:
        version = store.current_version(PASSED)
        assert version.optimisation_id == found
        assert version.spec.indicators[0].params["period"] == 30
        assert store.strategy(PASSED).state.value == "draft"
    # Adopted: it optimised the version before, so it cannot be adopted again.
    assert (
        f'action="/optimisations/{found}/adopt"' not in web.client.get(f"/strategies/{PASSED}").text
    )


def test_an_approver_may_not_adopt_an_optimised_set(web: Web) -> None:
    found = _recorded(web)
    web.sign_in("bo")
    assert (
        f'action="/optimisations/{found}/adopt"' not in web.client.get(f"/strategies/{PASSED}").text
    )
    refused = web.post(f"/optimisations/{found}/adopt")
    assert refused.status_code == 403
    assert "author" in refused.text
