-- +goose Up
-- A partner's real-time decision endpoint (one a partner; its signing
-- secret sealed in the vault as table decision_endpoints), and how it took
-- part in each authorisation it was asked about: who decided, the
-- stand-in's cause, the latency, the partner's reason, the amount asked
-- (the authorisation's is the amount approved) and what its answer funded.
CREATE TABLE decision_endpoints (
    partner_id TEXT PRIMARY KEY REFERENCES partners (id),
    url        TEXT NOT NULL,
    timeout_ms INTEGER NOT NULL,
    fallback   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE authorization_decisions (
    authorization_id TEXT PRIMARY KEY REFERENCES authorizations (id),
    decided_by       TEXT NOT NULL,
    stand_in_cause   TEXT NOT NULL,
    latency_us       BIGINT NOT NULL,
    partner_reason   TEXT NOT NULL,
    requested        BIGINT NOT NULL,
    funded           BIGINT NOT NULL
);

-- +goose Down
DROP TABLE authorization_decisions;
DROP TABLE decision_endpoints;
