-- +goose Up
-- A cardholder's WebAuthn user handle: random, so the authenticator never
-- holds an identifier vaultpage uses anywhere else.
CREATE TABLE passkey_users (
    individual_id TEXT PRIMARY KEY REFERENCES individuals (id),
    user_handle   BYTEA NOT NULL UNIQUE
);

-- Registered passkeys (public keys only). sign_count and the backup flags
-- are checked on every assertion.
CREATE TABLE passkeys (
    credential_id      BYTEA PRIMARY KEY,
    individual_id      TEXT NOT NULL REFERENCES passkey_users (individual_id),
    public_key         BYTEA NOT NULL,
    attestation_type   TEXT NOT NULL,
    attestation_format TEXT NOT NULL,
    aaguid             BYTEA NOT NULL,
    transports         TEXT NOT NULL,
    attachment         TEXT NOT NULL,
    sign_count         BIGINT NOT NULL,
    user_verified      BOOLEAN NOT NULL,
    backup_eligible    BOOLEAN NOT NULL,
    backup_state       BOOLEAN NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ
);
CREATE INDEX passkeys_individual ON passkeys (individual_id);

-- WebAuthn ceremony state between begin and finish: server-side, one per
-- consent, deleted when the ceremony finishes.
CREATE TABLE webauthn_ceremonies (
    consent_id TEXT PRIMARY KEY REFERENCES consents (id),
    kind       TEXT NOT NULL,
    session    BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP TABLE passkey_users;
