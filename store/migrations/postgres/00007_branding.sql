-- +goose Up
-- How a partner's hosted pages look and who may frame them.
CREATE TABLE partner_branding (
    partner_id      TEXT PRIMARY KEY REFERENCES partners (id),
    color           TEXT NOT NULL,
    logo            BYTEA,
    frame_ancestors TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE partner_branding;
