-- +goose Up
-- How many one-time codes went out, per consent, per cardholder and per
-- destination ("consent:<id>", "individual:<id>", "to:<sha-256>"), in a
-- window that starts with the first send; one conditional upsert per scope
-- decides whether another may go (SCAStore.ReserveSend), so that codes
-- cannot be pumped to a phone. pending: the consent's last code is unused.
CREATE TABLE sca_sends (
    scope        TEXT PRIMARY KEY,
    window_start DATETIME NOT NULL,
    sends        INTEGER NOT NULL,
    pending      BOOLEAN NOT NULL DEFAULT FALSE,
    last_at      DATETIME NOT NULL
);

-- +goose Down
DROP TABLE sca_sends;
