-- +goose Up
-- A network reference reserved while the partner's real-time decision
-- endpoint is asked about it, so that a resend meanwhile waits for that
-- answer instead of asking again; decided once the authorisation is
-- recorded (authorization_checks then holds the reference), taken over when
-- older than the lease and undecided (its process died).
CREATE TABLE network_reservations (
    reference        TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL,
    reserved_at      TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE network_reservations;
