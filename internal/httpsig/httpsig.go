// Package httpsig verifies HTTP Message Signatures (RFC 9421) on partner
// requests, with the request body bound through Content-Digest (RFC 9530).
//
// The well-kept Go library for RFC 9421 (github.com/yaronf/httpsign) is not
// available from the module proxy vaultpage builds with, so this package
// implements the parts vaultpage needs against the RFCs' own test vectors
// (RFC 9421 Appendix B.2.5 and B.2.6, RFC 9530 Appendix B): the derived
// components @method, @target-uri, @authority, @scheme, @request-target,
// @path and @query; plain header fields; the ed25519, ecdsa-p256-sha256,
// ecdsa-p384-sha384 and hmac-sha256 algorithms; created, expires, keyid and
// alg parameters. Structured Fields are parsed with github.com/dunglas/httpsfv.
package httpsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// Algorithm is an RFC 9421 signature algorithm name.
type Algorithm string

// Supported algorithms.
const (
	Ed25519    Algorithm = "ed25519"
	ECDSAP256  Algorithm = "ecdsa-p256-sha256"
	ECDSAP384  Algorithm = "ecdsa-p384-sha384"
	HMACSHA256 Algorithm = "hmac-sha256"
)

// Errors. Verification failures wrap ErrInvalid; none carries key material.
var (
	ErrMissing = errors.New("httpsig: request is not signed")
	ErrInvalid = errors.New("httpsig: invalid signature")
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Key is a verification key.
type Key struct {
	ID     string
	Alg    Algorithm
	Public any    // ed25519.PublicKey or *ecdsa.PublicKey
	Secret []byte // hmac-sha256 only
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an
// Ed25519, P-256 or P-384 key and names its algorithm.
func ParsePublicKey(pemText []byte) (any, Algorithm, error) {
	b, _ := pem.Decode(pemText)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, "", errors.New("httpsig: want a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("httpsig: %w", err)
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return k, Ed25519, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, ECDSAP256, nil
		case elliptic.P384():
			return k, ECDSAP384, nil
		}
	}
	return nil, "", errors.New("httpsig: key must be Ed25519, ECDSA P-256 or ECDSA P-384")
}

// Verifier checks signatures.
type Verifier struct {
	// Scheme and Authority of the URL clients address (the public URL, which
	// may differ from what a proxy forwards).
	Scheme, Authority string
	Now               func() time.Time
	// MaxAge bounds how old (or how far in the future) created may be.
	MaxAge time.Duration
	// Required components every accepted signature must cover.
	Required []string
	// RequireDigest demands content-digest coverage when the body is not
	// empty.
	RequireDigest bool
}

// Verify checks the request's signatures and returns the key id of the one
// that verified. lookup returns the key for a key id (an error if unknown).
// body is the full request body.
func (v Verifier) Verify(r *http.Request, body []byte, lookup func(keyID string) (Key, error)) (string, error) {
	inputs, sigs := r.Header.Values("Signature-Input"), r.Header.Values("Signature")
	if len(inputs) == 0 && len(sigs) == 0 {
		return "", ErrMissing
	}
	in, err := httpsfv.UnmarshalDictionary(inputs)
	if err != nil {
		return "", invalidf("Signature-Input is not a structured dictionary")
	}
	sg, err := httpsfv.UnmarshalDictionary(sigs)
	if err != nil {
		return "", invalidf("Signature is not a structured dictionary")
	}
	last := invalidf("no signature label in both Signature-Input and Signature")
	for _, label := range in.Names() {
		m, _ := in.Get(label)
		s, ok := sg.Get(label)
		if !ok {
			continue
		}
		list, ok := m.(httpsfv.InnerList)
		item, ok2 := s.(httpsfv.Item)
		if !ok || !ok2 {
			last = invalidf("signature %q is malformed", label)
			continue
		}
		sig, ok := item.Value.([]byte)
		if !ok {
			last = invalidf("signature %q is not a byte sequence", label)
			continue
		}
		keyID, err := v.verifyOne(r, body, label, list, sig, lookup)
		if err == nil {
			return keyID, nil
		}
		last = err
	}
	return "", last
}

func (v Verifier) verifyOne(r *http.Request, body []byte, label string, list httpsfv.InnerList, sig []byte, lookup func(string) (Key, error)) (string, error) {
	params := list.Params
	keyID, _ := paramString(params, "keyid")
	if keyID == "" {
		return "", invalidf("signature %q has no keyid", label)
	}
	created, ok := paramInt(params, "created")
	if !ok {
		return "", invalidf("signature %q has no created time", label)
	}
	now := v.Now()
	if v.MaxAge > 0 {
		age := now.Sub(time.Unix(created, 0))
		if age > v.MaxAge || age < -v.MaxAge {
			return "", invalidf("signature %q was created too long ago or in the future", label)
		}
	}
	if exp, ok := paramInt(params, "expires"); ok && !now.Before(time.Unix(exp, 0)) {
		return "", invalidf("signature %q has expired", label)
	}
	covered := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		name, ok := it.Value.(string)
		if !ok || len(it.Params.Names()) > 0 {
			return "", invalidf("signature %q covers a component this server does not support", label)
		}
		covered = append(covered, name)
	}
	for _, req := range v.Required {
		if !contains(covered, req) {
			return "", invalidf("signature %q must cover %s", label, req)
		}
	}
	if contains(covered, "content-digest") {
		if err := VerifyContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
			return "", err
		}
	} else if v.RequireDigest && len(body) > 0 {
		return "", invalidf("signature %q must cover content-digest", label)
	}
	key, err := lookup(keyID)
	if err != nil {
		return "", invalidf("unknown keyid")
	}
	if alg, ok := paramString(params, "alg"); ok && Algorithm(alg) != key.Alg {
		return "", invalidf("signature %q names another algorithm than its key", label)
	}
	base, err := v.Base(r, covered, list)
	if err != nil {
		return "", err
	}
	if !verifySignature(key, base, sig) {
		return "", invalidf("signature %q does not verify", label)
	}
	return keyID, nil
}

// Base builds the signature base (RFC 9421 Section 2.5).
func (v Verifier) Base(r *http.Request, covered []string, list httpsfv.InnerList) ([]byte, error) {
	var b bytes.Buffer
	for _, name := range covered {
		val, err := v.component(r, name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%q: %s\n", name, val)
	}
	d := httpsfv.NewDictionary()
	d.Add("x", list)
	ser, err := httpsfv.Marshal(d)
	if err != nil {
		return nil, invalidf("signature parameters cannot be serialised")
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(strings.TrimPrefix(ser, "x="))
	return b.Bytes(), nil
}

func (v Verifier) component(r *http.Request, name string) (string, error) {
	authority := v.Authority
	if authority == "" {
		authority = r.Host
	}
	scheme := v.Scheme
	if scheme == "" {
		scheme = "https"
	}
	switch name {
	case "@method":
		return r.Method, nil
	case "@target-uri":
		return scheme + "://" + strings.ToLower(authority) + r.URL.RequestURI(), nil
	case "@authority":
		return strings.ToLower(authority), nil
	case "@scheme":
		return scheme, nil
	case "@request-target":
		return r.URL.RequestURI(), nil
	case "@path":
		p := r.URL.EscapedPath()
		if p == "" {
			p = "/"
		}
		return p, nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	}
	if strings.HasPrefix(name, "@") || name != strings.ToLower(name) {
		return "", invalidf("component %s is not supported", name)
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 {
		return "", invalidf("covered header %s is missing", name)
	}
	for i := range vals {
		vals[i] = strings.TrimSpace(vals[i])
	}
	return strings.Join(vals, ", "), nil
}

func verifySignature(k Key, base, sig []byte) bool {
	switch k.Alg {
	case Ed25519:
		pub, ok := k.Public.(ed25519.PublicKey)
		return ok && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, base, sig)
	case ECDSAP256, ECDSAP384:
		pub, ok := k.Public.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		var digest []byte
		size := 32
		if k.Alg == ECDSAP256 {
			h := sha256.Sum256(base)
			digest = h[:]
		} else {
			h := sha512.Sum384(base)
			digest, size = h[:], 48
		}
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	case HMACSHA256:
		m := hmac.New(sha256.New, k.Secret)
		m.Write(base)
		return len(k.Secret) > 0 && hmac.Equal(m.Sum(nil), sig)
	}
	return false
}

// ContentDigest returns a Content-Digest header value for body (sha-256).
func ContentDigest(body []byte) string {
	d := sha256.Sum256(body)
	it := httpsfv.NewDictionary()
	it.Add("sha-256", httpsfv.NewItem(d[:]))
	s, _ := httpsfv.Marshal(it)
	return s
}

// VerifyContentDigest checks a Content-Digest header (RFC 9530) against the
// body: every sha-256 and sha-512 digest present must match, and at least
// one must be present. Other algorithms are ignored.
func VerifyContentDigest(header []string, body []byte) error {
	if len(header) == 0 {
		return invalidf("content-digest is covered but missing")
	}
	d, err := httpsfv.UnmarshalDictionary(header)
	if err != nil {
		return invalidf("Content-Digest is not a structured dictionary")
	}
	checked := 0
	for _, alg := range d.Names() {
		var want []byte
		switch alg {
		case "sha-256":
			h := sha256.Sum256(body)
			want = h[:]
		case "sha-512":
			h := sha512.Sum512(body)
			want = h[:]
		default:
			continue
		}
		m, _ := d.Get(alg)
		it, ok := m.(httpsfv.Item)
		got, ok2 := it.Value.([]byte)
		if !ok || !ok2 || !hmac.Equal(got, want) {
			return invalidf("Content-Digest %s does not match the body", alg)
		}
		checked++
	}
	if checked == 0 {
		return invalidf("Content-Digest has no sha-256 or sha-512 digest")
	}
	return nil
}

func paramString(p *httpsfv.Params, name string) (string, bool) {
	if p == nil {
		return "", false
	}
	v, ok := p.Get(name)
	s, ok2 := v.(string)
	return s, ok && ok2
}

func paramInt(p *httpsfv.Params, name string) (int64, bool) {
	if p == nil {
		return 0, false
	}
	v, ok := p.Get(name)
	n, ok2 := v.(int64)
	return n, ok && ok2
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Sign adds Content-Digest, Signature-Input and Signature (label sig1) to a
// request, covering @method, @target-uri and content-digest, as partner
// clients must. key is an ed25519.PrivateKey or an *ecdsa.PrivateKey on P-256
// or P-384. scheme and authority are those of the URL the server is known by.
func Sign(r *http.Request, body []byte, keyID string, key crypto.Signer, created time.Time, scheme, authority string) error {
	var alg Algorithm
	switch k := key.(type) {
	case ed25519.PrivateKey:
		alg = Ed25519
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = ECDSAP256
		case elliptic.P384():
			alg = ECDSAP384
		}
	}
	if alg == "" {
		return errors.New("httpsig: key must be Ed25519, ECDSA P-256 or ECDSA P-384")
	}
	r.Header.Set("Content-Digest", ContentDigest(body))
	params := httpsfv.NewParams()
	params.Add("created", created.Unix())
	params.Add("keyid", keyID)
	params.Add("alg", string(alg))
	list := httpsfv.InnerList{Params: params}
	covered := []string{"@method", "@target-uri", "content-digest"}
	for _, c := range covered {
		list.Items = append(list.Items, httpsfv.NewItem(c))
	}
	v := Verifier{Scheme: scheme, Authority: authority}
	base, err := v.Base(r, covered, list)
	if err != nil {
		return err
	}
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, base)
	case *ecdsa.PrivateKey:
		size := 32
		var digest []byte
		if alg == ECDSAP256 {
			h := sha256.Sum256(base)
			digest = h[:]
		} else {
			h := sha512.Sum384(base)
			digest, size = h[:], 48
		}
		rr, ss, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return err
		}
		sig = make([]byte, 2*size)
		rr.FillBytes(sig[:size])
		ss.FillBytes(sig[size:])
	}
	in := httpsfv.NewDictionary()
	in.Add("sig1", list)
	inS, err := httpsfv.Marshal(in)
	if err != nil {
		return err
	}
	sd := httpsfv.NewDictionary()
	sd.Add("sig1", httpsfv.NewItem(sig))
	sigS, err := httpsfv.Marshal(sd)
	if err != nil {
		return err
	}
	r.Header.Set("Signature-Input", inS)
	r.Header.Set("Signature", sigS)
	return nil
}
