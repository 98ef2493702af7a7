-- +goose Up
CREATE TABLE cardholder_credentials (
    individual_id TEXT PRIMARY KEY REFERENCES individuals (id),
    passcode_hash TEXT NOT NULL,
    failures      BIGINT NOT NULL DEFAULT 0,
    locked_until  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sca_codes (
    consent_id TEXT PRIMARY KEY REFERENCES consents (id),
    mac        BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE sca_codes;
DROP TABLE cardholder_credentials;
