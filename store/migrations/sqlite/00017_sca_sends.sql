-- +goose Up
-- How many one-time codes went out, per consent and per cardholder
-- ("consent:<id>", "individual:<id>"), in a window that starts with the
-- first send; one conditional upsert per scope decides whether another may
-- go (SCAStore.ReserveSend), so that codes cannot be pumped to a phone.
CREATE TABLE sca_sends (
    scope        TEXT PRIMARY KEY,
    window_start DATETIME NOT NULL,
    sends        INTEGER NOT NULL,
    last_at      DATETIME NOT NULL
);

-- +goose Down
DROP TABLE sca_sends;
