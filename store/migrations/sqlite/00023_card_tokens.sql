-- +goose Up
-- Wallet tokens (card.Token): a card's number in a wallet, its own number
-- sealed in the vault (table card_tokens), of which only the last four
-- digits are kept here.
CREATE TABLE card_tokens (
    id           TEXT PRIMARY KEY,
    partner_id   TEXT NOT NULL REFERENCES partners (id),
    card_id      TEXT NOT NULL REFERENCES cards (id),
    wallet       TEXT NOT NULL,
    device_name  TEXT NOT NULL,
    last4        TEXT NOT NULL,
    status       TEXT NOT NULL,
    suspended_by TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX card_tokens_card ON card_tokens (card_id, created_at);

-- +goose Down
DROP TABLE card_tokens;
