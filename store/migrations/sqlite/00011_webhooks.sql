-- +goose Up
-- Webhook endpoints; their signing secrets are sealed in vault_secrets.
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    partner_id     TEXT NOT NULL REFERENCES partners (id),
    url            TEXT NOT NULL,
    event_types    TEXT NOT NULL,
    disabled       BOOLEAN NOT NULL,
    previous_until DATETIME,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id, id);

-- One row per event and endpoint: at-least-once delivery state.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    partner_id      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES events (id),
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at DATETIME NOT NULL,
    leased_until    DATETIME,
    last_status     INTEGER NOT NULL,
    last_error      TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- How far the fan-out has read the event feed.
CREATE TABLE webhook_fanout (
    id  INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
INSERT INTO webhook_fanout (id, seq) VALUES (1, 0);

-- +goose Down
DROP TABLE webhook_fanout;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
