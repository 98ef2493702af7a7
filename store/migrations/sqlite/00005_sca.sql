-- +goose Up
CREATE TABLE cardholder_credentials (
    individual_id TEXT PRIMARY KEY REFERENCES individuals (id),
    passcode_hash TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  DATETIME,
    updated_at    DATETIME NOT NULL
);

CREATE TABLE sca_codes (
    consent_id TEXT PRIMARY KEY REFERENCES consents (id),
    mac        BLOB NOT NULL,
    expires_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE sca_codes;
DROP TABLE cardholder_credentials;
