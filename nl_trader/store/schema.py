"""The store's schema, as migrations: ``MIGRATIONS[n]`` takes a database from version n to n + 1.

Never edit a migration that has shipped; add the next one. Times are ISO 8601 UTC text, JSON
columns hold canonical JSON, hashes are SHA-256 in hex. No column holds a secret: an account is
stored by its profile name, login number and server, never its password; a user by an argon2 hash
of theirs (PHC text), never the password.
"""

from __future__ import annotations

_V1 = """
CREATE TABLE strategies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                    ('draft', 'backtested', 'approved', 'paper', 'live', 'stopped', 'retired')),
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE translations (
    id              INTEGER PRIMARY KEY,
    text            TEXT NOT NULL,
    language        TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('spec', 'clarify', 'refuse')),
    model           TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    prompt_hash     TEXT NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    latency_s       REAL NOT NULL,
    spec_hash       TEXT,
    detail          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL
);

CREATE TABLE versions (
    id              INTEGER PRIMARY KEY,
    strategy_id     INTEGER NOT NULL REFERENCES strategies (id),
    number          INTEGER NOT NULL CHECK (number >= 1),
    parent_id       INTEGER REFERENCES versions (id),
    text            TEXT NOT NULL,
    language        TEXT NOT NULL,
    spec_json       TEXT NOT NULL,
    spec_hash       TEXT NOT NULL,
    translation_id  INTEGER REFERENCES translations (id),
    note            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    UNIQUE (strategy_id, number)
);

CREATE TABLE backtest_runs (
    id                INTEGER PRIMARY KEY,
    strategy_id       INTEGER NOT NULL REFERENCES strategies (id),
    version_id        INTEGER NOT NULL REFERENCES versions (id),
    spec_hash         TEXT NOT NULL,
    symbol            TEXT NOT NULL,
    data              TEXT NOT NULL,
    data_fingerprint  TEXT NOT NULL,
    period_start      TEXT NOT NULL,
    period_end        TEXT NOT NULL,
    bars              INTEGER NOT NULL,
    oos_start         TEXT,
    oos_end           TEXT,
    oos_bars          INTEGER NOT NULL,
    settings          TEXT NOT NULL,
    figures           TEXT NOT NULL,
    oos_figures       TEXT,
    criteria          TEXT NOT NULL,
    report_path       TEXT NOT NULL,
    report_hash       TEXT NOT NULL,
    report_json_path  TEXT NOT NULL,
    report_json_hash  TEXT NOT NULL,
    engine_version    TEXT NOT NULL,
    elapsed_s         REAL NOT NULL,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL
);

CREATE TABLE approvals (
    id               INTEGER PRIMARY KEY,
    strategy_id      INTEGER NOT NULL REFERENCES strategies (id),
    version_id       INTEGER NOT NULL REFERENCES versions (id),
    spec_hash        TEXT NOT NULL,
    run_id           INTEGER NOT NULL REFERENCES backtest_runs (id),
    report_hash      TEXT NOT NULL,
    approved_by      TEXT NOT NULL,
    approved_at      TEXT NOT NULL,
    note             TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    criteria_met     INTEGER NOT NULL CHECK (criteria_met IN (0, 1)),
    criteria         TEXT NOT NULL,
    override_reason  TEXT,
    revoked_at       TEXT,
    revoked_by       TEXT,
    revoke_reason    TEXT,
    CHECK (criteria_met = 1 OR override_reason IS NOT NULL)
);

CREATE TABLE live_sessions (
    id                 INTEGER PRIMARY KEY,
    strategy_id        INTEGER NOT NULL REFERENCES strategies (id),
    version_id         INTEGER NOT NULL REFERENCES versions (id),
    approval_id        INTEGER NOT NULL REFERENCES approvals (id),
    mode               TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
    account_profile    TEXT NOT NULL,
    terminal           TEXT NOT NULL,
    account_login      INTEGER,
    account_server     TEXT NOT NULL,
    trade_mode         TEXT NOT NULL,
    real_confirmed     INTEGER NOT NULL CHECK (real_confirmed IN (0, 1)),
    status             TEXT NOT NULL CHECK (status IN ('running', 'stopped')),
    started_at         TEXT NOT NULL,
    started_by         TEXT NOT NULL,
    stop_requested_at  TEXT,
    stop_requested_by  TEXT,
    stopped_at         TEXT,
    stop_reason        TEXT,
    heartbeat_at       TEXT,
    bars_processed     INTEGER NOT NULL DEFAULT 0,
    last_bar_time      TEXT
);
-- At most one running session per strategy, whatever process asks.
CREATE UNIQUE INDEX live_sessions_one_running
    ON live_sessions (strategy_id) WHERE status = 'running';

CREATE TABLE journal (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES live_sessions (id),
    kind         TEXT NOT NULL CHECK (kind IN ('sent', 'status', 'execution')),
    order_id     TEXT,
    state        TEXT,
    payload      TEXT NOT NULL,
    event_time   TEXT,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX journal_by_session ON journal (session_id, id);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);
-- Append-only: the chain of hashes shows any change made around these triggers.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit: the log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit: the log is append-only');
END;
"""

# The audit log's keying (nl_trader.store.audit): one record, written once, never changed.
_V2 = """
CREATE TABLE audit_keying (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_id   TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    first_seq  INTEGER NOT NULL CHECK (first_seq >= 1),
    prev_hash  TEXT NOT NULL,
    keyed_at   TEXT NOT NULL,
    mac        TEXT NOT NULL
);
CREATE TRIGGER audit_keying_no_update BEFORE UPDATE ON audit_keying
BEGIN
    SELECT RAISE(ABORT, 'audit: the keying record is written once');
END;
CREATE TRIGGER audit_keying_no_delete BEFORE DELETE ON audit_keying
BEGIN
    SELECT RAISE(ABORT, 'audit: the keying record is written once');
END;
"""

# Live trading left running (issue 16): a magic number per strategy version and account, the
# process that runs a session (a crash is told from a running one), kill requests, accounts a
# strategy may trade on, and journal entries beyond orders (intents written before order_send,
# incidents, reconciliations, guard refusals, feed and drift notes).
_V3 = """
ALTER TABLE live_sessions ADD COLUMN magic INTEGER;
ALTER TABLE live_sessions ADD COLUMN pid INTEGER;
ALTER TABLE live_sessions ADD COLUMN host TEXT;
ALTER TABLE live_sessions ADD COLUMN kill_requested INTEGER NOT NULL DEFAULT 0
    CHECK (kill_requested IN (0, 1));
ALTER TABLE live_sessions ADD COLUMN close_positions INTEGER CHECK (close_positions IN (0, 1));
ALTER TABLE live_sessions ADD COLUMN drift TEXT;
DROP INDEX live_sessions_one_running;
-- One running session per strategy and account profile (a demo and a live broker may run both).
CREATE UNIQUE INDEX live_sessions_one_running
    ON live_sessions (strategy_id, account_profile) WHERE status = 'running';
-- Two running sessions never share a magic on one account: each book is its own.
CREATE UNIQUE INDEX live_sessions_one_magic
    ON live_sessions (account_login, account_server, magic)
    WHERE status = 'running' AND magic IS NOT NULL;

CREATE TABLE magic_numbers (
    id              INTEGER PRIMARY KEY,
    account_login   INTEGER,
    account_server  TEXT NOT NULL,
    strategy_id     INTEGER NOT NULL REFERENCES strategies (id),
    version_id      INTEGER NOT NULL REFERENCES versions (id),
    magic           INTEGER NOT NULL CHECK (magic > 0),
    allocated_at    TEXT NOT NULL,
    UNIQUE (account_login, account_server, magic),
    UNIQUE (account_login, account_server, strategy_id, version_id)
);

CREATE TABLE strategy_accounts (
    id               INTEGER PRIMARY KEY,
    strategy_id      INTEGER NOT NULL REFERENCES strategies (id),
    account_profile  TEXT NOT NULL,
    assigned_at      TEXT NOT NULL,
    assigned_by      TEXT NOT NULL,
    removed_at       TEXT,
    removed_by       TEXT
);
CREATE UNIQUE INDEX strategy_accounts_one_active
    ON strategy_accounts (strategy_id, account_profile) WHERE removed_at IS NULL;

CREATE TABLE journal_v3 (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES live_sessions (id),
    kind         TEXT NOT NULL CHECK (kind IN (
        'intent', 'sent', 'status', 'execution', 'incident', 'reconciled', 'guard', 'feed', 'drift'
    )),
    order_id     TEXT,
    state        TEXT,
    payload      TEXT NOT NULL,
    event_time   TEXT,
    recorded_at  TEXT NOT NULL
);
INSERT INTO journal_v3 SELECT * FROM journal;
DROP TABLE journal;
ALTER TABLE journal_v3 RENAME TO journal;
CREATE INDEX journal_by_session ON journal (session_id, id);
"""

# The web app's users (issue 17): a name, a role and an argon2 hash (never the password), and each
# sign-in attempt, so that failed ones can be throttled per name on the store's clock.
_V4 = """
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role           TEXT NOT NULL CHECK (role IN ('author', 'approver', 'operator', 'admin')),
    password_hash  TEXT NOT NULL,
    language       TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'zh-Hant', 'zh-Hans')),
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Sessions issued before this time are over (the user signed out).
    signed_out_at  TEXT
);

CREATE TABLE login_attempts (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL COLLATE NOCASE,
    at         TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'throttled'))
);
CREATE INDEX login_attempts_by_name ON login_attempts (name, at);
"""

_V5 = """
-- An optimisation or a walk-forward of one version: what was searched, how, and what it chose.
CREATE TABLE optimisations (
    id             INTEGER PRIMARY KEY,
    strategy_id    INTEGER NOT NULL REFERENCES strategies(id),
    version_id     INTEGER NOT NULL REFERENCES versions(id),
    spec_hash      TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('optimize', 'walk-forward')),
    method         TEXT NOT NULL,
    engine         TEXT NOT NULL,
    space          TEXT NOT NULL,
    objectives     TEXT NOT NULL,
    data           TEXT NOT NULL,
    settings       TEXT NOT NULL,
    trials         INTEGER NOT NULL,
    best           TEXT,
    overfitting    TEXT,
    out_of_sample  TEXT,
    study_name     TEXT,
    elapsed_s      REAL NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE INDEX optimisations_by_strategy ON optimisations (strategy_id, id);

-- A version made from an optimisation's chosen set names it (its parent is the optimised one).
ALTER TABLE versions ADD COLUMN optimisation_id INTEGER REFERENCES optimisations(id);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
