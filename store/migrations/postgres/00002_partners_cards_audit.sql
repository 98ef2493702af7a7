-- +goose Up
CREATE TABLE partners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    return_urls TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE partner_clients (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners (id),
    secret_digest BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE access_tokens (
    digest     BYTEA PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    result    TEXT NOT NULL,
    source    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL
);

CREATE TABLE individuals (
    id         TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    email      TEXT NOT NULL,
    phone      TEXT NOT NULL,
    locale     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX individuals_partner ON individuals (partner_id, id);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners (id),
    individual_id TEXT NOT NULL REFERENCES individuals (id),
    currency      TEXT NOT NULL,
    balance       BIGINT NOT NULL DEFAULT 0,
    available     BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_partner ON accounts (partner_id, id);
CREATE INDEX accounts_individual ON accounts (partner_id, individual_id, id);

CREATE TABLE cards (
    id                   TEXT PRIMARY KEY,
    partner_id           TEXT NOT NULL REFERENCES partners (id),
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    individual_id        TEXT NOT NULL REFERENCES individuals (id),
    display_name         TEXT NOT NULL,
    type                 TEXT NOT NULL,
    brand                TEXT NOT NULL,
    region               TEXT NOT NULL,
    currency             TEXT NOT NULL,
    last4                TEXT NOT NULL,
    exp_month            BIGINT NOT NULL,
    exp_year             BIGINT NOT NULL,
    status               TEXT NOT NULL,
    spend_limit          BIGINT,
    spend_limit_duration TEXT NOT NULL,
    replaces_id          TEXT,
    replaced_by_id       TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    version              BIGINT NOT NULL
);
CREATE INDEX cards_partner ON cards (partner_id, id);
CREATE INDEX cards_account ON cards (partner_id, account_id, id);
CREATE INDEX cards_individual ON cards (partner_id, individual_id, id);
CREATE INDEX cards_status ON cards (partner_id, status, id);

CREATE TABLE card_restrictions (
    id         TEXT PRIMARY KEY,
    card_id    TEXT NOT NULL UNIQUE REFERENCES cards (id),
    partner_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    max_amount BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE idempotency_keys (
    partner_id   TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    state        TEXT NOT NULL,
    status       BIGINT NOT NULL DEFAULT 0,
    headers      TEXT NOT NULL DEFAULT '',
    body         BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (partner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE card_restrictions;
DROP TABLE cards;
DROP TABLE accounts;
DROP TABLE individuals;
DROP TABLE audit_log;
DROP TABLE access_tokens;
DROP TABLE partner_clients;
DROP TABLE partners;
