-- +goose Up
-- A partner's policy for its cards' online payments: 'exemptions' (the
-- low-value exemption applies) or 'always' (every online payment is
-- authenticated by the cardholder). No row: exemptions.
CREATE TABLE sca_policies (
    partner_id TEXT PRIMARY KEY REFERENCES partners (id),
    policy     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE sca_policies;
