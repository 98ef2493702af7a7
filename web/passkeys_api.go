package web

import (
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"
)

// passkeyView is a cardholder's passkey as partners see it: enough for a
// support agent to recognise and revoke it, nothing to authenticate with.
type passkeyView struct {
	ID             string  `json:"id"` // the credential id, base64url
	CreatedAt      string  `json:"created_at"`
	LastUsedAt     *string `json:"last_used_at"`
	BackupEligible bool    `json:"backup_eligible"`
	BackupState    bool    `json:"backup_state"`
}

// listPasskeys is GET /v3/individuals/:id/passkeys.
func (s *Server) listPasskeys(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.deps.Cards.Individual(ctx, actorOf(c), id); err != nil {
		return err
	}
	keys, err := s.deps.SCA.Passkeys(ctx, id)
	if err != nil {
		return err
	}
	out := make([]passkeyView, 0, len(keys))
	for _, k := range keys {
		v := passkeyView{ID: base64.RawURLEncoding.EncodeToString(k.CredentialID), CreatedAt: ts(k.CreatedAt), BackupEligible: k.BackupEligible, BackupState: k.BackupState}
		if !k.LastUsedAt.IsZero() {
			used := ts(k.LastUsedAt)
			v.LastUsedAt = &used
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"data": out})
}

// deletePasskey is DELETE /v3/individuals/:id/passkeys/:pid: revoke a
// passkey (a lost phone); the cardholder falls back to a code and passcode.
func (s *Server) deletePasskey(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	cred, err := base64.RawURLEncoding.DecodeString(c.Param("passkey_id"))
	if err != nil || len(cred) == 0 || len(cred) > 1023 {
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", "passkey_id", "must be a passkey id from the list")
	}
	ctx := c.Request().Context()
	if _, err := s.deps.Cards.Individual(ctx, actorOf(c), id); err != nil {
		return err
	}
	if err := s.deps.SCA.RemovePasskey(ctx, "partner:"+partnerOf(c).ID.String(), id, cred); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
