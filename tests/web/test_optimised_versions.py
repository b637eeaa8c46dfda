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
