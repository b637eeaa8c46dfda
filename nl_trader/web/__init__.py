"""The web app: a thin face over the library (``create_app``; ``nl-trader serve`` runs it).

- ``app.py``: the application factory, the session cookie middleware and the error pages;
- ``pages.py``: the server-rendered pages (``templates/``, ``static/``): strategies, new, edit
  and compare versions, approve, revoke, retire, audit, users;
- ``backtests.py``: the backtest form, its job's progress (``jobs.py``: backtests in background
  threads) and a run's page; ``sessions.py``: start a session through the gate, watch, stop, kill
  (sessions run in the server's process: ``nl_trader.live.runner``);
- ``api.py``: the JSON API under ``/api`` (OpenAPI at ``/docs``);
- ``views.py``: what pages and API show, read from the store;
- ``context.py``: the store, the signed-in user, roles and the CSRF check for each route;
- ``security.py``: the signed session cookie and its key file; ``i18n.py``: the app's words.
"""

from nl_trader.web.app import create_app

__all__ = ["create_app"]
