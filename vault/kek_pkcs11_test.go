//go:build cgo

package vault_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

// softHSMModule is where Debian's softhsm2 package puts the PKCS#11 module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSM makes a fresh SoftHSM2 token in a temporary directory with AES-256
// keys under the given labels. It skips the test where SoftHSM2 is not
// installed, unless HSM_REQUIRED=1.
func softHSM(t *testing.T, labels ...string) vault.PKCS11Config {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil || fileMissing(softHSMModule) {
		if os.Getenv("HSM_REQUIRED") == "1" {
			t.Fatal("HSM_REQUIRED=1 but SoftHSM2 is not installed (apt-get install softhsm2)")
		}
		t.Skip("SoftHSM2 not installed (apt-get install softhsm2); HSM-backed KEK test skipped")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	cfg := vault.PKCS11Config{Module: softHSMModule, TokenLabel: "vaultpage-test", PIN: "40962048", KeyLabel: labels[0]}
	out, err := exec.Command(util, "--init-token", "--free", "--label", cfg.TokenLabel, "--pin", cfg.PIN, "--so-pin", "12345678").CombinedOutput() //nolint:gosec // Test fixture.
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v: %s", err, out)
	}
	hsm, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: cfg.PIN})
	if err != nil {
		t.Fatalf("configure token: %v", err)
	}
	defer func() { _ = hsm.Close() }()
	for i, label := range labels {
		if _, err := hsm.GenerateSecretKeyWithLabel([]byte{byte(i + 1)}, []byte(label), 256, crypto11.CipherAES); err != nil {
			t.Fatalf("generate %s: %v", label, err)
		}
	}
	return cfg
}

func fileMissing(path string) bool {
	_, err := os.Stat(path)
	return err != nil
}

func TestHSMBackedKEKWorksAgainstSoftHSM2(t *testing.T) {
	ctx := context.Background()
	p := softHSM(t, "kek-2026", "kek-2027")
	db := storetest.SQLite(t)

	keks, err := vault.OpenKEKs(ctx, vault.KEKConfig{Source: vault.KEKSourcePKCS11, PKCS11: p}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if keks.Current().ID() != "pkcs11:vaultpage-test/kek-2026" {
		t.Fatalf("kek id %q", keks.Current().ID())
	}
	r := openRing(t, db, keks)
	cards := issueCards(t, r, 5)
	checkCards(t, r, cards)
	r.Close()
	if err := keks.Close(); err != nil {
		t.Fatal(err)
	}

	// Rotate the KEK inside the HSM: the new label is current, the old one
	// only unwraps until rewrap has moved every key.
	p2 := p
	p2.KeyLabel, p2.Previous = "kek-2027", []string{"kek-2026"}
	keks2, err := vault.OpenKEKs(ctx, vault.KEKConfig{Source: vault.KEKSourcePKCS11, PKCS11: p2}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = keks2.Close() }()
	r2 := openRing(t, db, keks2)
	rep, err := r2.Rewrap(ctx, vault.RewrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 4 {
		t.Fatalf("rewrapped %d keys, want 4", rep.Keys)
	}
	checkCards(t, r2, cards)

	// The wrong key label is refused up front.
	p3 := p
	p3.KeyLabel = "no-such-key"
	if _, err := vault.OpenKEKs(ctx, vault.KEKConfig{Source: vault.KEKSourcePKCS11, PKCS11: p3}, quiet); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("missing key: want ErrKEK, got %v", err)
	}
	// A software KEK cannot open what the HSM wrapped.
	if _, err := vault.Open(ctx, vault.Options{Store: db.Vault(), KEKs: vault.NewKEKSet(newKEK(t)), Logger: quiet}); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("software kek: want ErrKEK, got %v", err)
	}
}

// The zone PIN key can live in the HSM: a PIN block the network enciphered
// under it is deciphered there and compared with the card's PIN, and the
// key never leaves the token.
func TestZonePINKeyInTheHSM(t *testing.T) {
	ctx := context.Background()
	p := softHSM(t, "kek-2026")
	hsm, err := crypto11.Configure(&crypto11.Config{Path: p.Module, TokenLabel: p.TokenLabel, Pin: p.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hsm.Close() }()
	network, err := hsm.GenerateSecretKeyWithLabel([]byte{0x21}, []byte("zpk-2026"), 0, crypto11.CipherDES3) // no CKA_VALUE_LEN: a DES3 key has one length
	if err != nil {
		t.Fatalf("generate a TDES key: %v", err)
	}
	zpk, err := vault.OpenZonePINKey(p, "zpk-2026")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zpk.Close() }()
	if zpk.ID() != "pkcs11:vaultpage-test/zpk-2026" {
		t.Fatalf("zone PIN key id %q", zpk.ID())
	}

	db := storetest.SQLite(t)
	r := openRing(t, db, vault.NewKEKSet(newKEK(t)))
	o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
	if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
		t.Fatal(err)
	}
	pan, err := r.LoadPAN(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
		t.Fatal(err)
	}
	// The network's side: the clear format 0 block enciphered under the
	// key in the token (one CBC block with a zero IV is ECB).
	block := func(pin string) []byte {
		clear, err := vault.EncodeISO0(vault.SecretString(pin), pan)
		if err != nil {
			t.Fatal(err)
		}
		m, err := network.NewCBCEncrypterCloser(make([]byte, 8))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out := make([]byte, 8)
		m.CryptBlocks(out, clear)
		return out
	}
	if ok, err := r.VerifyPINBlock(ctx, o, zpk, block("8203")); err != nil || !ok {
		t.Fatalf("the right PIN under the HSM's key: %v %v", ok, err)
	}
	if ok, err := r.VerifyPINBlock(ctx, o, zpk, block("8204")); err != nil || ok {
		t.Fatalf("a wrong PIN under the HSM's key: %v %v", ok, err)
	}
	// A block under another key does not decipher to this card's block.
	other, err := vault.NewZonePINKey([]byte("0123456789ABCDEFFEDCBA98"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.VerifyPINBlock(ctx, o, other, block("8203")); ok || !errors.Is(err, vault.ErrMalformed) {
		t.Fatalf("the HSM's block under another key: %v %v", ok, err)
	}
	// The KEK's label names an AES key: not a zone PIN key.
	if _, err := vault.OpenZonePINKey(p, "kek-2026"); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("an AES key as the zone PIN key: %v", err)
	}
	if _, err := vault.OpenZonePINKey(p, "no-such-key"); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("a missing zone PIN key: %v", err)
	}
	// A TDES key the token would let out is no zone PIN key.
	attrs, err := crypto11.NewAttributeSetWithIDAndLabel([]byte{0x22}, []byte("zpk-extractable"))
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range map[crypto11.AttributeType]bool{crypto11.CkaExtractable: true, crypto11.CkaSensitive: false} {
		if err := attrs.Set(typ, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := hsm.GenerateSecretKeyWithAttributes(attrs, 0, crypto11.CipherDES3); err != nil {
		t.Fatalf("generate an extractable TDES key: %v", err)
	}
	if _, err := vault.OpenZonePINKey(p, "zpk-extractable"); !errors.Is(err, vault.ErrKEK) {
		t.Fatalf("an extractable zone PIN key: %v", err)
	}
}
