package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/vaultpage/vaultpage/card"
)

// tokenView is a wallet token on the wire.
type tokenView struct {
	ID         string `json:"id"`
	CardID     string `json:"card_id"`
	Wallet     string `json:"wallet"`
	DeviceName string `json:"device_name,omitempty"`
	Last4      string `json:"token_last4"`
	Status     string `json:"status"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

func viewToken(t card.Token) tokenView {
	return tokenView{ID: t.ID.String(), CardID: t.CardID.String(), Wallet: t.Wallet, DeviceName: t.DeviceName, Last4: t.Last4,
		Status: string(t.Status), CreatedAt: ts(t.CreatedAt), UpdatedAt: ts(t.UpdatedAt)}
}

// listTokens is GET /v3/cards/{id}/tokens.
func (s *Server) listTokens(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ts, err := s.deps.Cards.Tokens(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return err
	}
	out := struct {
		Data []tokenView `json:"data"`
	}{Data: []tokenView{}}
	for _, t := range ts {
		out.Data = append(out.Data, viewToken(t))
	}
	return c.JSON(http.StatusOK, out)
}

// tokenStatus is POST /v3/cards/{id}/tokens/{token_id}/{suspend,resume}
// and DELETE /v3/cards/{id}/tokens/{token_id}.
func (s *Server) tokenStatus(to card.TokenStatus) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		tid, err := pathID(c, "token_id")
		if err != nil {
			return err
		}
		t, err := s.deps.Cards.SetTokenStatus(c.Request().Context(), actorOf(c), id, tid, to)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, viewToken(t))
	}
}
