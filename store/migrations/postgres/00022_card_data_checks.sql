-- +goose Up
-- PIN tries (three consecutive wrong PINs block PIN use until the
-- cardholder changes the PIN), and what an authorisation presented with card
-- data checked: each of cvv, expiry and pin is match, mismatch or
-- not_provided, never the value, and the wallet token it came by. An
-- authorisation by card id has no row.
ALTER TABLE cards ADD COLUMN pin_tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cards ADD COLUMN pin_blocked BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE authorization_checks (
    authorization_id TEXT PRIMARY KEY REFERENCES authorizations (id),
    entry_mode       TEXT NOT NULL,
    cvv              TEXT NOT NULL,
    expiry           TEXT NOT NULL,
    pin              TEXT NOT NULL,
    token_id         TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE authorization_checks;
ALTER TABLE cards DROP COLUMN pin_blocked;
ALTER TABLE cards DROP COLUMN pin_tries;
