-- +goose Up
-- Online card payments' strong customer authentication (PSD2 RTS), as a
-- merchant's EMV 3-D Secure request asks for it: what was asked, for
-- which amount and payee, and how vaultpage answered (trans_status Y, C,
-- N or R, the exemption applied); authorization_id is the one
-- authorisation it was used for.
CREATE TABLE authentications (
    id                   TEXT PRIMARY KEY,
    partner_id           TEXT NOT NULL,
    card_id              TEXT NOT NULL REFERENCES cards (id),
    amount               BIGINT NOT NULL,
    currency             TEXT NOT NULL,
    merchant_name        TEXT NOT NULL,
    merchant_url         TEXT NOT NULL,
    merchant_id          TEXT NOT NULL,
    merchant_mcc         TEXT NOT NULL,
    merchant_country     TEXT NOT NULL,
    challenge_preference TEXT NOT NULL,
    trans_status         TEXT NOT NULL,
    exemption            TEXT NOT NULL,
    reason               TEXT NOT NULL,
    authorization_id     TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    expires_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX authentications_partner ON authentications (partner_id, id);
CREATE UNIQUE INDEX authentications_authorization ON authentications (authorization_id);

-- What a card's online payments let through without SCA under the
-- low-value exemption (RTS Article 16) since its last SCA: how many, and
-- how much. Kept for the card's reissue lineage, as spend limits are: a
-- card reissued with its number goes on counting. No row: none.
CREATE TABLE sca_exemption_counters (
    lineage_id TEXT PRIMARY KEY,
    payments   INTEGER NOT NULL,
    amount     BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE sca_exemption_counters;
DROP TABLE authentications;
