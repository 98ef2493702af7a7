-- +goose Up
CREATE TABLE vault_keys (
    id         BIGINT PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('data', 'blind_index', 'cvk', 'pin')),
    state      TEXT    NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
    kek_id     TEXT    NOT NULL,
    wrapped    BYTEA    NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX vault_keys_one_active ON vault_keys (purpose) WHERE state = 'active';

CREATE TABLE vault_secrets (
    record_table TEXT    NOT NULL,
    record_id    TEXT    NOT NULL,
    field        TEXT    NOT NULL,
    partner_id   TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    key_id       BIGINT NOT NULL REFERENCES vault_keys (id),
    inner_key_id BIGINT NOT NULL,
    ciphertext   BYTEA    NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (record_table, record_id, field)
);
CREATE INDEX vault_secrets_key ON vault_secrets (key_id);
CREATE INDEX vault_secrets_inner_key ON vault_secrets (inner_key_id);

CREATE TABLE vault_blind_index (
    key_id       BIGINT NOT NULL REFERENCES vault_keys (id),
    digest       BYTEA    NOT NULL,
    record_table TEXT    NOT NULL,
    record_id    TEXT    NOT NULL,
    field        TEXT    NOT NULL,
    partner_id   TEXT    NOT NULL,
    PRIMARY KEY (key_id, digest)
);
CREATE INDEX vault_blind_index_ref ON vault_blind_index (record_table, record_id, field);

-- +goose Down
DROP TABLE vault_blind_index;
DROP TABLE vault_secrets;
DROP TABLE vault_keys;
