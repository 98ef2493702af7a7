-- +goose Up
-- Sandbox authorisations: every request, approved or declined. held is
-- what it holds on the account now; spent what it counts towards spend
-- limits (summed per reissue lineage and window).
CREATE TABLE authorizations (
    id               TEXT PRIMARY KEY,
    partner_id       TEXT NOT NULL REFERENCES partners (id),
    card_id          TEXT NOT NULL REFERENCES cards (id),
    lineage_id       TEXT NOT NULL,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    merchant_name    TEXT NOT NULL,
    merchant_mcc     TEXT NOT NULL,
    merchant_country TEXT NOT NULL,
    merchant_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    decline_reason   TEXT NOT NULL,
    held             BIGINT NOT NULL,
    spent            BIGINT NOT NULL,
    cleared          BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX authorizations_lineage ON authorizations (lineage_id, created_at);
CREATE INDEX authorizations_partner ON authorizations (partner_id, id);

CREATE TABLE fundings (
    id         TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount     BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX fundings_account ON fundings (account_id, created_at);

-- +goose Down
DROP TABLE fundings;
DROP TABLE authorizations;
