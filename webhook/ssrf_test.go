package webhook

import (
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestRefusePrivateAddresses(t *testing.T) {
	testCases := []struct {
		address  string
		expected bool // refused
	}{
		{"127.0.0.1:443", true},
		{"[::1]:443", true},
		{"10.1.2.3:443", true},
		{"172.16.0.1:443", true},
		{"192.168.1.1:443", true},
		{"169.254.169.254:80", true}, // cloud metadata
		{"100.64.0.1:443", true},     // carrier-grade NAT
		{"0.0.0.0:443", true},
		{"[fd00::1]:443", true},
		{"[fe80::1]:443", true},
		{"[::ffff:127.0.0.1]:443", true}, // IPv4-mapped loopback
		{"[64:ff9b::a00:1]:443", true},   // NAT64 of 10.0.0.1
		{"[::a00:1]:443", true},          // IPv4-compatible 10.0.0.1 (::10.0.0.1)
		{"[::127.0.0.1]:443", true},      // IPv4-compatible loopback
		{"[64:ff9b:1::a00:1]:443", true}, // local-use NAT64
		{"[2002:a00:1::1]:443", true},    // 6to4 of 10.0.0.1
		{"[2001:0:a00:1::1]:443", true},  // Teredo
		{"240.0.0.1:443", true},          // reserved for future use
		{"93.184.215.14:443", false},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", false},
	}
	for _, tc := range testCases {
		if got := RefusePrivate("tcp", tc.address, nil) != nil; got != tc.expected {
			t.Errorf("%s: refused %v, want %v", tc.address, got, tc.expected)
		}
	}
}

func TestUndeliverableWebhooksNameNoAddress(t *testing.T) {
	err := RefusePrivate("tcp", "10.1.2.3:443", nil)
	if got := describe(&net.OpError{Op: "dial", Net: "tcp", Err: err}); strings.Contains(got, "10.1.2.3") || !strings.Contains(got, "may reach") {
		t.Fatalf("a refused address is described as %q", got)
	}
	// A name that does not resolve reads the same: no telling which
	// internal names exist.
	if got := describe(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "db.internal"}}); got != describe(&net.OpError{Op: "dial", Net: "tcp", Err: err}) {
		t.Fatalf("an unknown name reads %q", got)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.ParseIP("93.184.215.14"), Port: 443}, Err: syscall.ECONNREFUSED}
	if got := describe(refused); strings.Contains(got, "93.184") || got != "no response: the connection was refused" {
		t.Fatalf("a refused connection is described as %q", got)
	}
}
