package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/vaultpage/vaultpage/card"
	"github.com/vaultpage/vaultpage/docs"
	"github.com/vaultpage/vaultpage/static"
)

// requestTimeout bounds every request's context.
const requestTimeout = 30 * time.Second

// routes registers every route vaultpage serves, grouped by who may call it.
func (s *Server) routes() {
	e := s.echo
	e.Use(s.requestLog)
	timeout := middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: requestTimeout})

	// Operations: load balancers, orchestrators, Prometheus.
	e.GET("/healthz", s.healthz).Name = "healthz"
	e.GET("/readyz", s.readyz).Name = "readyz"
	if s.deps.PublicMetrics {
		e.GET("/metrics", s.metricsHandler()).Name = "metrics"
	}

	// Hosted pages: cardholders, in a browser, after a token exchange.
	e.GET("/brand/:partner/logo.png", s.logo).Name = "brand-logo"
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(filesOnly{static.Files})))).Name = "static"
	e.GET("/favicon.ico", s.favicon).Name = "favicon" // browsers ask for it whatever the page says
	hosted := e.Group("", s.hostedHeaders, timeout, middleware.BodyLimit("64K"), s.hostedRequest)
	hosted.GET("/c/:token", s.redeem).Name = "hosted-redeem"
	hosted.GET("/consent", s.landing).Name = "hosted-landing"
	hosted.POST("/consent/code", s.sendCode).Name = "hosted-send-code"
	hosted.POST("/consent/verify", s.verify).Name = "hosted-verify"
	hosted.POST("/consent/passkey/login", s.beginPasskeyLogin).Name = "hosted-passkey-login"
	hosted.POST("/consent/passkey/login/finish", s.finishPasskeyLogin).Name = "hosted-passkey-login-finish"
	hosted.GET("/consent/passkey", s.passkeyOffer).Name = "hosted-passkey-offer"
	hosted.POST("/consent/passkey/register", s.beginPasskeyRegistration).Name = "hosted-passkey-register"
	hosted.POST("/consent/passkey/register/finish", s.finishPasskeyRegistration).Name = "hosted-passkey-register-finish"
	hosted.GET("/consent/action", s.action).Name = "hosted-action"
	hosted.POST("/consent/action", s.submitAction).Name = "hosted-submit-action"
	hosted.POST("/consent/cancel", s.cancelHosted).Name = "hosted-cancel"
	// A merchant's challenge window: no cookie, its session in a header.
	hosted.GET("/a/:token", s.openChallenge).Name = "challenge-open"
	hosted.POST("/challenge/passkey", s.challengePasskey).Name = "challenge-passkey"
	hosted.POST("/challenge/passkey/finish", s.finishChallengePasskey).Name = "challenge-passkey-finish"
	hosted.POST("/challenge/code", s.challengeCode).Name = "challenge-code"
	hosted.POST("/challenge/verify", s.verifyChallenge).Name = "challenge-verify"
	hosted.POST("/challenge/cancel", s.cancelChallenge).Name = "challenge-cancel"
	hosted.POST("/challenge/status", s.challengeStatus).Name = "challenge-status"

	// Development only.
	if s.deps.DevOutbox != nil {
		e.GET("/dev/outbox", s.devOutbox, s.hostedHeaders).Name = "dev-outbox"
	}
	if s.deps.Demo != nil {
		//nolint:gosec // G101: names of a form field and a cookie, not credentials.
		csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
			TokenLookup: "form:_csrf", CookieName: "vp_csrf", CookiePath: demoReturnPath, CookieHTTPOnly: true,
			CookieSameSite: http.SameSiteStrictMode,
			ErrorHandler: func(error, echo.Context) error {
				return problem(http.StatusForbidden, "csrf", "the form expired; go back to the app and start again")
			},
		})
		demo := e.Group(demoReturnPath, s.hostedHeaders, timeout, middleware.BodyLimit("16K"), formsOnly, csrf)
		demo.GET("", s.demo).Name = "dev-demo"
		demo.POST("/cards", s.demoOrder).Name = "dev-demo-order"
		demo.POST("/cards/:id/:action", s.demoAction).Name = "dev-demo-action"
	}

	// Partner API, public part: the contract and the token endpoint. A
	// partner API route takes the query parameters q.takes names, no others.
	q := s.query
	v3 := e.Group("/v3", apiHeaders, timeout, middleware.BodyLimit("64K"))
	v3.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", docs.OpenAPI)
	}, s.query.check).Name = "openapi"
	oauth := e.Group("/v3/oauth", oauthErrors, apiHeaders, timeout, middleware.BodyLimit("64K"), s.query.check)
	oauth.POST("/token", s.token, s.rateLimit(s.tokenLimits, func(c echo.Context) string { return addressKey(c.RealIP()) })).Name = "oauth-token"

	// Partner API: bearer token, per-partner rate limit, idempotency keys.
	partnerOnly := []echo.MiddlewareFunc{s.authenticate, s.rateLimit(s.limiter, func(c echo.Context) string { return partnerOf(c).ID.String() }),
		s.query.check, s.verifySignature}
	api := v3.Group("", append(partnerOnly, s.idempotent)...)
	// Authorisations may ask the partner in real time: the handler claims
	// its Idempotency-Key itself, once the partner has answered.
	asking := v3.Group("", partnerOnly...)
	api.GET("/branding", s.getBranding).Name = "branding-get"
	api.PUT("/branding", s.putBranding).Name = "branding-put"
	api.POST("/individuals", s.createIndividual).Name = "individuals-create"
	q.takes(api.GET("/individuals", s.listIndividuals), "limit", "cursor").Name = "individuals-list"
	api.GET("/individuals/:id", s.getIndividual).Name = "individuals-get"
	api.GET("/individuals/:id/passkeys", s.listPasskeys).Name = "passkeys-list"
	api.DELETE("/individuals/:id/passkeys/:passkey_id", s.deletePasskey).Name = "passkeys-delete"
	api.POST("/accounts", s.createAccount).Name = "accounts-create"
	q.takes(api.GET("/accounts", s.listAccounts), "limit", "cursor", "individual_id").Name = "accounts-list"
	api.GET("/accounts/:id", s.getAccount).Name = "accounts-get"
	api.POST("/accounts/:id/fundings", s.fundAccount).Name = "accounts-fund"
	api.POST("/cards", s.createCard).Name = "cards-create"
	q.takes(api.GET("/cards", s.listCards), "limit", "cursor", "account_id", "individual_id", "status", "created_after", "created_before").Name = "cards-list"
	api.GET("/cards/:id", s.getCard).Name = "cards-get"
	api.PATCH("/cards/:id", s.patchCard).Name = "cards-update"
	api.DELETE("/cards/:id", s.deleteCard).Name = "cards-terminate"
	api.POST("/cards/:id/reissue", s.reissueCard).Name = "cards-reissue"
	api.POST("/cards/:id/restrictions", s.createRestriction).Name = "restrictions-create"
	api.GET("/cards/:id/restrictions", s.listRestrictions).Name = "restrictions-list"
	api.GET("/cards/:id/spend_limits", s.spendLimits).Name = "cards-spend-limits"
	api.GET("/cards/:id/restrictions/:rid", s.getRestriction).Name = "restrictions-get"
	api.PATCH("/cards/:id/restrictions/:rid", s.updateRestriction).Name = "restrictions-update"
	api.DELETE("/cards/:id/restrictions/:rid", s.deleteRestriction).Name = "restrictions-delete"
	api.GET("/cards/:id/tokens", s.listTokens).Name = "tokens-list"
	api.POST("/cards/:id/tokens/:token_id/suspend", s.tokenStatus(card.TokenSuspended)).Name = "tokens-suspend"
	api.POST("/cards/:id/tokens/:token_id/resume", s.tokenStatus(card.TokenActive)).Name = "tokens-resume"
	api.DELETE("/cards/:id/tokens/:token_id", s.tokenStatus(card.TokenDeleted)).Name = "tokens-delete"

	// Actions that need the cardholder answer 412 with a pending consent.
	api.POST("/cards/:id/activate", s.activateCard).Name = "cards-activate"
	api.GET("/cards/:id/credentials", s.cardCredentials).Name = "cards-credentials"
	api.POST("/cards/:id/pin", s.cardPIN).Name = "cards-pin"
	api.POST("/cards/:id/apple_pay/tokenize", s.applePay).Name = "cards-apple-pay"
	api.POST("/consents/:id", s.consentToken).Name = "consents-token"
	api.GET("/consents/:id", s.getConsent).Name = "consents-get"
	q.takes(api.GET("/consents", s.listConsents), "limit", "cursor", "status").Name = "consents-list"
	api.POST("/consents/:id/cancel", s.cancelConsent).Name = "consents-cancel"
	api.POST("/simulations/consents/:id", s.simulateConsent).Name = "simulations-consent"
	asking.POST("/simulations/authorizations", s.simulateAuthorization).Name = "simulations-authorize"
	api.POST("/simulations/authentications", s.simulateAuthentication).Name = "simulations-authenticate"
	api.GET("/authentications/:id", s.getAuthentication).Name = "authentications-get"
	api.GET("/sca_policy", s.getSCAPolicy).Name = "sca-policy-get"
	api.PUT("/sca_policy", s.putSCAPolicy).Name = "sca-policy-put"
	api.POST("/simulations/cards/:id/fulfilment", s.simulateFulfilment).Name = "simulations-fulfilment"
	api.POST("/simulations/authorizations/:id/:step", s.followAuthorization).Name = "simulations-authorization-step"
	q.takes(api.GET("/authorizations", s.listAuthorizations), "limit", "cursor", "card_id").Name = "authorizations-list"
	api.GET("/authorizations/:id", s.getAuthorization).Name = "authorizations-get"
	api.PUT("/decision_endpoint", s.putDecisionEndpoint).Name = "decision-endpoint-put"
	api.GET("/decision_endpoint", s.getDecisionEndpoint).Name = "decision-endpoint-get"
	api.DELETE("/decision_endpoint", s.deleteDecisionEndpoint).Name = "decision-endpoint-delete"
	api.POST("/webhook_endpoints", s.createEndpoint).Name = "webhook-endpoints-create"
	api.GET("/webhook_endpoints", s.listEndpoints).Name = "webhook-endpoints-list"
	api.GET("/webhook_endpoints/:id", s.getEndpoint).Name = "webhook-endpoints-get"
	api.PATCH("/webhook_endpoints/:id", s.updateEndpoint).Name = "webhook-endpoints-update"
	api.DELETE("/webhook_endpoints/:id", s.deleteEndpoint).Name = "webhook-endpoints-delete"
	api.POST("/webhook_endpoints/:id/test", s.testEndpoint).Name = "webhook-endpoints-test"
	q.takes(api.GET("/webhook_endpoints/:id/deliveries", s.listDeliveries), "status").Name = "webhook-deliveries-list"
	api.POST("/webhook_deliveries/:id/retry", s.retryDelivery).Name = "webhook-deliveries-retry"
	q.takes(api.GET("/events", s.listEvents), "limit", "cursor", "type").Name = "events-list"
	api.GET("/events/:id", s.getEvent).Name = "events-get"

	// The live event feed: a long-lived response, so without the request
	// timeout (it ends itself after an hour; clients resume by Last-Event-ID).
	live := e.Group("/v3", apiHeaders, s.authenticate, s.rateLimit(s.limiter, func(c echo.Context) string { return partnerOf(c).ID.String() }),
		s.query.check, s.verifySignature)
	q.takes(live.GET("/events/stream", s.streamEvents), "cursor", "type").Name = "events-stream"

	// A partner API path served under other methods answers 405 with Allow,
	// not the groups' catch-all 404.
	oauth.RouteNotFound("/*", s.unrouted)
	live.RouteNotFound("/*", s.unrouted)
}

// networkRoutes registers the card network's door, on its own listener
// (NetworkHandler): mutual TLS, no partner credential, nothing else.
func (s *Server) networkRoutes(e *echo.Echo) {
	e.Use(s.requestLog)
	timeout := middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: requestTimeout})
	n := e.Group("/network/v1", apiHeaders, networkClient, timeout, middleware.BodyLimit("64K"), s.query.check)
	n.POST("/authorizations", s.networkAuthorize).Name = "network-authorize"
	n.POST("/reversals", s.networkReverse).Name = "network-reverse"
	n.POST("/clearings", s.networkClear).Name = "network-clear"
	n.POST("/authentications", s.networkAuthenticate).Name = "network-authenticate"
	n.GET("/authentications/:id", s.networkAuthentication).Name = "network-authentication"
}
