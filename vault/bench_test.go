package vault_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/vaultpage/vaultpage/store/storetest"
	"github.com/vaultpage/vaultpage/vault"
)

// The baselines: a bare AES-256-GCM seal and open of the same 16 bytes, in
// the same run, so that docs/benchmarks.md can state ratios.

func bareGCM(b *testing.B) cipher.AEAD {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func BenchmarkBaselineAESGCMSeal(b *testing.B) {
	g := bareGCM(b)
	nonce := make([]byte, 12)
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Seal(nil, nonce, pan16, nil)
	}
}

func BenchmarkBaselineAESGCMSealRandomNonce(b *testing.B) {
	g := bareGCM(b)
	b.ReportAllocs()
	for b.Loop() {
		out := make([]byte, 12, 12+16+16)
		if _, err := rand.Read(out); err != nil {
			b.Fatal(err)
		}
		_ = g.Seal(out, out, pan16, nil)
	}
}

func BenchmarkBaselineAESGCMOpen(b *testing.B) {
	g := bareGCM(b)
	nonce := make([]byte, 12)
	ct := g.Seal(nil, nonce, pan16, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Open(nil, nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRing(b *testing.B) *vault.Keyring {
	return openRing(b, storetest.SQLite(b), vault.NewKEKSet(newKEK(b)))
}

func BenchmarkSealPAN(b *testing.B) {
	r := benchRing(b)
	ctx := context.Background()
	aad := cardAAD("9b2f3c1e-6f7a-4c1d-9a53-2f1f0f1d2c3b", "0d6a8f4e-3b9c-4e2a-8f71-5c6d7e8f9a0b")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Encrypt(ctx, pan16, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenPAN(b *testing.B) {
	r := benchRing(b)
	ctx := context.Background()
	aad := cardAAD("9b2f3c1e-6f7a-4c1d-9a53-2f1f0f1d2c3b", "0d6a8f4e-3b9c-4e2a-8f71-5c6d7e8f9a0b")
	ct, err := r.Encrypt(ctx, pan16, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Decrypt(ctx, ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	r := benchRing(b)
	pan, err := vault.ParsePAN("4895370012345671")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.BlindIndex(pan); err != nil {
			b.Fatal(err)
		}
	}
}

var cvk = []byte("0123456789abcdef")

func BenchmarkCVV(b *testing.B) {
	pan, err := vault.ParsePAN("4895370012345671")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vault.ComputeCVV(cvk, pan, vault.Expiry{Year: 2029, Month: 4}, vault.ServiceCodeCVV2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPINBlockEncipher(b *testing.B) {
	key := make([]byte, 32)
	pan, _ := vault.ParsePAN("4895370012345671")
	pin := vault.SecretString("8203")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vault.EncipherISO4(key, pin, pan); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPINBlockVerify(b *testing.B) {
	key := make([]byte, 32)
	pan, _ := vault.ParsePAN("4895370012345671")
	block, err := vault.EncipherISO4(key, vault.SecretString("8203"), pan)
	if err != nil {
		b.Fatal(err)
	}
	candidate := vault.SecretString("8203")
	b.ReportAllocs()
	for b.Loop() {
		pin, err := vault.DecipherISO4(key, block, pan)
		if err != nil || !vault.EqualPIN(pin, candidate) {
			b.Fatal("verify failed")
		}
		pin.Wipe()
	}
}

// BenchmarkVerifyStoredPIN is the whole path the hosted page takes: two
// records read from SQLite, two envelopes opened, the block deciphered.
func BenchmarkVerifyStoredPIN(b *testing.B) {
	r := benchRing(b)
	ctx := context.Background()
	o := vault.Owner{PartnerID: "p1", Table: "cards", RecordID: "c1"}
	if _, err := r.IssuePAN(ctx, o, vault.BINRange{Prefix: "489537", Length: 16}); err != nil {
		b.Fatal(err)
	}
	if err := r.SetPIN(ctx, o, vault.SecretString("8203")); err != nil {
		b.Fatal(err)
	}
	candidate := vault.SecretString("8203")
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := r.VerifyPIN(ctx, o, candidate); err != nil || !ok {
			b.Fatal("verify failed")
		}
	}
}
