-- +goose Up
-- Failed SCA attempts at online payments' challenges, counted apart from
-- the cardholder's other consents: anyone with a card's number and expiry
-- can open a payment's challenge, and its failures lock the cardholder's
-- online payments only, not the partner's consents.
CREATE TABLE payment_sca_attempts (
    individual_id TEXT PRIMARY KEY REFERENCES individuals (id),
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  DATETIME,
    updated_at    DATETIME NOT NULL
);

-- +goose Down
DROP TABLE payment_sca_attempts;
