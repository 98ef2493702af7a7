package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultpage/vaultpage/vault"
)

func randomB64(t *testing.T) (string, []byte) {
	t.Helper()
	k := make([]byte, vault.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k), k
}

func TestKeyComponentsCombineByXOR(t *testing.T) {
	ctx := context.Background()
	c1, k1 := randomB64(t)
	c2, k2 := randomB64(t)
	c3, k3 := randomB64(t)
	kek, checks, err := vault.CombineComponents([]string{c1, c2, c3})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 3 || checks[0] != vault.CheckValue(k1) {
		t.Fatalf("check values %v", checks)
	}
	whole := make([]byte, vault.KEKSize)
	subtle.XORBytes(whole, k1, k2)
	subtle.XORBytes(whole, whole, k3)
	direct, err := vault.NewSoftwareKEK(whole)
	if err != nil {
		t.Fatal(err)
	}
	if kek.ID() != direct.ID() {
		t.Fatal("combined KEK is not the XOR of its components")
	}
	wrapped, err := kek.Wrap(ctx, []byte("0123456789abcdef0123456789abcdef"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := direct.Unwrap(ctx, wrapped, []byte("aad")); err != nil || string(got) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("unwrap under the XOR: %v", err)
	}
	// Any two of three components make a different key.
	partial, _, err := vault.CombineComponents([]string{c1, c2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Unwrap(ctx, wrapped, []byte("aad")); !errors.Is(err, vault.ErrDecrypt) {
		t.Fatalf("a subset of components must not unwrap: %v", err)
	}
}

func TestKeyComponentsRefuseSplitsThatAreNotFullLength(t *testing.T) {
	c1, k1 := randomB64(t)
	testCases := []struct {
		name       string
		components []string
	}{
		{"one component", []string{c1}},
		{"half-length halves", []string{base64.StdEncoding.EncodeToString(k1[:16]), base64.StdEncoding.EncodeToString(k1[16:])}},
		{"the same component twice", []string{c1, c1}},
		{"not base64", []string{c1, "not base64!"}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := vault.CombineComponents(tc.components)
			if !errors.Is(err, vault.ErrKEK) {
				t.Fatalf("want ErrKEK, got %v", err)
			}
			if strings.Contains(err.Error(), c1) {
				t.Fatal("error repeats a component")
			}
		})
	}
}

func TestParseKEK(t *testing.T) {
	good, raw := randomB64(t)
	for _, enc := range []string{good, base64.RawURLEncoding.EncodeToString(raw), "  " + good + "\n"} {
		if _, err := vault.ParseKEK(enc); err != nil {
			t.Fatalf("%v", err)
		}
	}
	for _, bad := range []string{"", "abc", base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		if _, err := vault.ParseKEK(bad); !errors.Is(err, vault.ErrKEK) {
			t.Fatalf("%q: want ErrKEK, got %v", bad, err)
		}
	}
}

func TestDevKEKIsGeneratedOwnerOnlyAndWarns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	k1, err := vault.LoadDevKEK(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, vault.DevKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "never use it in production") {
		t.Fatalf("no loud warning: %s", logs.String())
	}
	k2, err := vault.LoadDevKEK(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() {
		t.Fatal("second load made another key")
	}
	if err := os.Chmod(filepath.Join(dir, vault.DevKEKFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.LoadDevKEK(dir, logger); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("world-readable key file: want ErrKEK, got %v", err)
	}
}

func TestProductionRefusesTheDevKEK(t *testing.T) {
	_, err := vault.OpenKEKs(context.Background(), vault.KEKConfig{Source: vault.KEKSourceDev, DataDir: t.TempDir(), Production: true}, quiet)
	if !errors.Is(err, vault.ErrKEK) || !strings.Contains(err.Error(), "refused in production") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

func TestKEKConfigListsEveryProblem(t *testing.T) {
	err := vault.KEKConfig{Source: vault.KEKSourceDev, Production: true}.Validate()
	if err == nil || !strings.Contains(err.Error(), "refused in production") || !strings.Contains(err.Error(), "needs a data directory") {
		t.Fatalf("want both problems, got %v", err)
	}
	for _, c := range []vault.KEKConfig{
		{Source: vault.KEKSourceKey},
		{Source: vault.KEKSourceComponents, Components: []string{"a"}},
		{Source: vault.KEKSourcePKCS11},
		{Source: "vault-of-gold"},
	} {
		if err := c.Validate(); !errors.Is(err, vault.ErrKEK) {
			t.Fatalf("%+v: want ErrKEK, got %v", c.Source, err)
		}
	}
}

func TestOpenKEKsWithPreviousKeys(t *testing.T) {
	cur, _ := randomB64(t)
	prev, prevRaw := randomB64(t)
	set, err := vault.OpenKEKs(context.Background(), vault.KEKConfig{Source: vault.KEKSourceKey, Key: cur, Previous: []string{prev}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Lookup("sw:" + vault.CheckValue(prevRaw)); !ok {
		t.Fatal("previous kek not in the set")
	}
	if set.Current().ID() == "sw:"+vault.CheckValue(prevRaw) {
		t.Fatal("previous kek became current")
	}
}
