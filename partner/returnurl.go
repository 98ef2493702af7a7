package partner

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
)

// The return-URL rule, in one place: a partner registers its return URLs
// (ValidateReturnURL, at registration), and a consent may send the
// cardholder back only to one of them, exactly (MatchReturnURL, when a
// token is issued and again when the cardholder is sent back). The final
// URL, and the origin the hosted pages' CSP form-action and the popup's
// postMessage name, come from the matched URL only.

// ValidateReturnURL accepts absolute https URLs without credentials or
// fragments, and http only for localhost outside production. Errors wrap
// ErrInvalidInput.
func ValidateReturnURL(raw string, production bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || !validHost(u.Host) || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: return url must be an absolute URL without credentials or fragment", ErrInvalidInput)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && localHost(u.Hostname()) && !production:
	default:
		return fmt.Errorf("%w: return url must use https", ErrInvalidInput)
	}
	return nil
}

// ErrReturnURL refuses a return URL that is not one of the partner's registered
// ones; it wraps ErrInvalidInput.
var ErrReturnURL = fmt.Errorf("%w: the return url is not one of the partner's registered return urls", ErrInvalidInput)

// ReturnURL is a return URL the partner registered.
type ReturnURL struct{ u *url.URL }

// MatchReturnURL accepts raw only if it equals one of registered exactly
// (registered URLs were validated when the partner registered them; a URL
// that no longer parses as one is refused all the same). Errors:
// ErrReturnURL.
func MatchReturnURL(raw string, registered []string) (ReturnURL, error) {
	if raw == "" || !slices.Contains(registered, raw) {
		return ReturnURL{}, ErrReturnURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !validHost(u.Host) || u.User != nil || u.Fragment != "" {
		return ReturnURL{}, errors.Join(ErrReturnURL, err)
	}
	return ReturnURL{u: u}, nil
}

// Origin is the URL's scheme and host, for CSP form-action and a popup's
// postMessage target.
func (r ReturnURL) Origin() string { return r.u.Scheme + "://" + r.u.Host }

// With is the URL with the query parameters set (consent_id and status,
// say), kept beside the partner's own.
func (r ReturnURL) With(params map[string]string) string {
	u := *r.u
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
