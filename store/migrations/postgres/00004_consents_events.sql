-- +goose Up
CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners (id),
    card_id       TEXT NOT NULL REFERENCES cards (id),
    individual_id TEXT NOT NULL,
    action        TEXT NOT NULL,
    status        TEXT NOT NULL,
    return_url    TEXT NOT NULL,
    locale        TEXT NOT NULL,
    mode          TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    version       BIGINT NOT NULL
);
CREATE INDEX consents_partner ON consents (partner_id, id);
CREATE INDEX consents_status ON consents (partner_id, status, id);

CREATE TABLE consent_tokens (
    consent_id  TEXT PRIMARY KEY REFERENCES consents (id),
    digest      BYTEA NOT NULL UNIQUE,
    expires_at  TIMESTAMPTZ NOT NULL,
    redeemed_at TIMESTAMPTZ
);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_partner ON events (partner_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE consent_tokens;
DROP TABLE consents;
