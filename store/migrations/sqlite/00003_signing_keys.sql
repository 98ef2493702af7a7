-- +goose Up
CREATE TABLE partner_signing_keys (
    partner_id TEXT NOT NULL REFERENCES partners (id),
    key_id     TEXT NOT NULL,
    alg        TEXT NOT NULL,
    public_key BLOB NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (partner_id, key_id)
);

-- +goose Down
DROP TABLE partner_signing_keys;
