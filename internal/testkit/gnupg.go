package testkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// GnuPG is a throwaway GnuPG home holding a card bureau's key pair: Debian's
// gpg, the independent implementation that reads what vaultpage writes.
type GnuPG struct {
	t    testing.TB
	home string
}

// NewGnuPG makes the home and the bureau's key (uid bureau@example.com). It
// skips the test where gpg is missing, unless GPG_REQUIRED=1 or CI is set.
func NewGnuPG(t testing.TB) *GnuPG {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("GPG_REQUIRED") == "1" || os.Getenv("CI") != "" {
			t.Fatal("gpg is required: apt-get install gnupg")
		}
		t.Skip("gpg (Debian's gnupg) is not installed")
	}
	// A short path: gpg-agent's socket path must fit in 108 bytes.
	home, err := os.MkdirTemp("", "vpgpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.CommandContext(context.Background(), "gpgconf", "--homedir", home, "--kill", "all").Run() //nolint:gosec // G204: the test's own home.
		_ = os.RemoveAll(home)
	})
	g := &GnuPG{t: t, home: home}
	g.Run(nil, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "Card Bureau <bureau@example.com>", "default", "default", "never")
	return g
}

// Run runs gpg on the home with stdin and returns its output.
func (g *GnuPG) Run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(context.Background(), "gpg", append([]string{"--homedir", g.home, "--batch", "--no-tty"}, args...)...) //nolint:gosec // G204: a test's own arguments.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	if err := cmd.Run(); err != nil {
		g.t.Fatalf("gpg %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes()
}

// PublicKey is the bureau's armored public key.
func (g *GnuPG) PublicKey() []byte {
	g.t.Helper()
	return g.Run(nil, "--armor", "--export", "bureau@example.com")
}

// Decrypt decrypts and verifies path with gpg, requiring a good signature
// by the key whose fingerprint (upper-case hex) is signer, and returns the
// clear lines.
func (g *GnuPG) Decrypt(path, signer string) []string {
	g.t.Helper()
	status := filepath.Join(g.home, "status")
	clear := g.Run(nil, "--status-file", status, "--decrypt", path)
	st, err := os.ReadFile(status) //nolint:gosec // G304: the test's own file.
	if err != nil {
		g.t.Fatal(err)
	}
	if !bytes.Contains(st, []byte("[GNUPG:] DECRYPTION_OKAY")) || !bytes.Contains(st, []byte("[GNUPG:] GOODSIG")) ||
		!bytes.Contains(st, []byte("[GNUPG:] VALIDSIG "+signer)) {
		g.t.Fatalf("gpg did not find a good signature by %s:\n%s", signer, st)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(clear))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// SigningKey makes vaultpage's bureau signing key with go-crypto, teaches
// gpg its public half, and returns the armored private key and its
// fingerprint (upper-case hex).
func (g *GnuPG) SigningKey() (private []byte, fingerprint string) {
	g.t.Helper()
	e, err := openpgp.NewEntity("vaultpage", "card bureau files", "bureau@vaultpage.example", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		g.t.Fatal(err)
	}
	var priv, pub bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		g.t.Fatal(err)
	}
	_ = w.Close()
	if w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil); err != nil {
		g.t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		g.t.Fatal(err)
	}
	_ = w.Close()
	g.Run(pub.Bytes(), "--import")
	return priv.Bytes(), fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
}
