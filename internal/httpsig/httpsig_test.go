package httpsig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The test request of RFC 9421 Appendix B.2 (and RFC 9530's example body).
const testBody = `{"hello": "world"}`

func testRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://example.com/foo?param=Value&Pet=dog", strings.NewReader(testBody))
	r.Host = "example.com"
	r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	r.Header.Set("Content-Length", "18")
	return r
}

// Keys of RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.1.5
// (test-shared-secret).
const (
	ed25519PublicPEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n"
	sharedSecretB64  = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
)

var created = time.Unix(1618884473, 0)

func verifier() Verifier {
	return Verifier{Scheme: "https", Authority: "example.com", Now: func() time.Time { return created.Add(time.Minute) }, MaxAge: 5 * time.Minute}
}

func rfcKeys(t *testing.T) func(string) (Key, error) {
	pub, alg, err := ParsePublicKey([]byte(ed25519PublicPEM))
	if err != nil || alg != Ed25519 {
		t.Fatalf("parse B.1.4 key: %v", err)
	}
	secret, _ := base64.StdEncoding.DecodeString(sharedSecretB64)
	return func(id string) (Key, error) {
		switch id {
		case "test-key-ed25519":
			return Key{ID: id, Alg: Ed25519, Public: pub}, nil
		case "test-shared-secret":
			return Key{ID: id, Alg: HMACSHA256, Secret: secret}, nil
		}
		return Key{}, errors.New("unknown")
	}
}

func TestRFC9421AppendixB2Vectors(t *testing.T) {
	testCases := []struct {
		name, input, signature, base string
	}{
		{
			name:      "B.2.5 hmac-sha256",
			input:     `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
			signature: `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`,
			base: "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n" +
				"\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"",
		},
		{
			name:      "B.2.6 ed25519",
			input:     `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			signature: `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`,
			base: "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n" +
				"\"content-type\": application/json\n\"content-length\": 18\n" +
				"\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
		},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			r := testRequest()
			r.Header.Set("Signature-Input", tc.input)
			r.Header.Set("Signature", tc.signature)
			keyID, err := verifier().Verify(r, []byte(testBody), rfcKeys(t))
			if err != nil {
				t.Fatalf("the RFC's signature does not verify: %v", err)
			}
			if !strings.Contains(tc.input, `keyid="`+keyID+`"`) {
				t.Fatalf("verified with key %s", keyID)
			}
			// The base is byte for byte the RFC's.
			if got := baseOf(t, r); got != tc.base {
				t.Fatalf("signature base:\n%s\nwant:\n%s", got, tc.base)
			}
			// One changed header breaks it.
			r.Header.Set("Content-Type", "application/xml")
			if _, err := verifier().Verify(r, []byte(testBody), rfcKeys(t)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("tampered request verified: %v", err)
			}
		})
	}
}

func baseOf(t *testing.T, r *http.Request) string {
	t.Helper()
	in, err := parseInputForTest(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := verifier().Base(r, in.covered, in.list)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRFC9530ContentDigest(t *testing.T) {
	if err := VerifyContentDigest([]string{"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"}, []byte(testBody)); err != nil {
		t.Fatalf("RFC 9530 sha-512 example: %v", err)
	}
	if err := VerifyContentDigest([]string{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"}, []byte(testBody)); err != nil {
		t.Fatalf("RFC 9530 sha-256 example: %v", err)
	}
	if got := ContentDigest([]byte(testBody)); got != "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" {
		t.Fatalf("ContentDigest = %s", got)
	}
	for _, bad := range [][]string{nil, {"md5=:AAAA:"}, {"sha-256=:Y48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"}, {"not a dictionary ("}} {
		if err := VerifyContentDigest(bad, []byte(testBody)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v: want ErrInvalid, got %v", bad, err)
		}
	}
}

// sign makes a signature the way a partner's client would, for the ECDSA
// algorithms the RFC gives no deterministic vector for.
func sign(t *testing.T, r *http.Request, body []byte, key *ecdsa.PrivateKey, alg Algorithm, keyID string, created time.Time) {
	t.Helper()
	r.Header.Set("Content-Digest", ContentDigest(body))
	input := fmt.Sprintf(`sig1=("@method" "@target-uri" "content-digest");created=%d;keyid=%q;alg=%q`, created.Unix(), keyID, alg)
	r.Header.Set("Signature-Input", input)
	in, err := parseInputForTest(r)
	if err != nil {
		t.Fatal(err)
	}
	base, err := verifier().Base(r, in.covered, in.list)
	if err != nil {
		t.Fatal(err)
	}
	var digest []byte
	size := 32
	if alg == ECDSAP256 {
		h := sha256.Sum256(base)
		digest = h[:]
	} else {
		h := sha512Sum384(base)
		digest, size = h, 48
	}
	rr, ss, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 2*size)
	rr.FillBytes(sig[:size])
	ss.FillBytes(sig[size:])
	r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

func TestECDSASignaturesAndPolicy(t *testing.T) {
	for _, tc := range []struct {
		alg   Algorithm
		curve elliptic.Curve
	}{{ECDSAP256, elliptic.P256()}, {ECDSAP384, elliptic.P384()}} {
		t.Run(string(tc.alg), func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			keys := func(id string) (Key, error) {
				if id != "partner-key-1" {
					return Key{}, errors.New("unknown")
				}
				return Key{ID: id, Alg: tc.alg, Public: &priv.PublicKey}, nil
			}
			v := verifier()
			v.Required, v.RequireDigest = []string{"@method", "@target-uri"}, true
			body := []byte(`{"display_name":"Travel"}`)
			r := httptest.NewRequest(http.MethodPatch, "https://example.com/v3/cards/1", bytes.NewReader(body))
			sign(t, r, body, priv, tc.alg, "partner-key-1", created)
			if _, err := v.Verify(r, body, keys); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// Sign, as partner clients use it, agrees with the test's signer.
			r3 := httptest.NewRequest(http.MethodPatch, "https://example.com/v3/cards/1", bytes.NewReader(body))
			if err := Sign(r3, body, "partner-key-1", priv, created, "https", "example.com"); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(r3, body, keys); err != nil {
				t.Fatalf("verify Sign's signature: %v", err)
			}
			if _, err := v.Verify(r, []byte(`{"display_name":"Other"}`), keys); !errors.Is(err, ErrInvalid) {
				t.Fatalf("changed body verified: %v", err)
			}
			old := verifier()
			old.Now = func() time.Time { return created.Add(10 * time.Minute) }
			if _, err := old.Verify(r, body, keys); !errors.Is(err, ErrInvalid) {
				t.Fatalf("stale signature verified: %v", err)
			}
			r2 := httptest.NewRequest(http.MethodPatch, "https://example.com/v3/cards/1", bytes.NewReader(body))
			sign(t, r2, body, priv, tc.alg, "someone-else", created)
			if _, err := v.Verify(r2, body, keys); !errors.Is(err, ErrInvalid) {
				t.Fatalf("unknown key verified: %v", err)
			}
			v.Required = append(v.Required, "@query")
			if _, err := v.Verify(r, body, keys); !errors.Is(err, ErrInvalid) {
				t.Fatalf("a signature missing a required component verified: %v", err)
			}
		})
	}
}

func TestUnsignedAndMalformed(t *testing.T) {
	r := testRequest()
	if _, err := verifier().Verify(r, nil, rfcKeys(t)); !errors.Is(err, ErrMissing) {
		t.Fatalf("unsigned: %v", err)
	}
	for _, h := range [][2]string{
		{`sig1=("@method");created=1618884473`, `sig1=:AAAA:`},
		{`sig1=("@method");keyid="k"`, `sig1=:AAAA:`},
		{`sig1=("@method";req);created=1618884473;keyid="test-key-ed25519"`, `sig1=:AAAA:`},
		{`sig1=("@status");created=1618884473;keyid="test-key-ed25519"`, `sig1=:AAAA:`},
		{`garbage((`, `sig1=:AAAA:`},
		{`sig1=("@method");created=1618884473;keyid="test-key-ed25519"`, `sig2=:AAAA:`},
		{`sig1=("@method");created=1618884473;keyid="test-key-ed25519";alg="hmac-sha256"`, `sig1=:AAAA:`},
	} {
		r := testRequest()
		r.Header.Set("Signature-Input", h[0])
		r.Header.Set("Signature", h[1])
		if _, err := verifier().Verify(r, nil, rfcKeys(t)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: want ErrInvalid, got %v", h[0], err)
		}
	}
}

func TestParsePublicKeyRefusesOtherKeys(t *testing.T) {
	if _, _, err := ParsePublicKey([]byte("not pem")); err == nil {
		t.Fatal("parsed garbage")
	}
	if _, _, err := ParsePublicKey([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Fatal("accepted a private key")
	}
	_, alg, err := ParsePublicKey([]byte(ed25519PublicPEM))
	if err != nil || alg != Ed25519 {
		t.Fatalf("ed25519: %v %v", alg, err)
	}
}
