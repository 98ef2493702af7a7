// Package vault is the only place in vaultpage that handles card secrets in
// clear: primary account numbers (PANs), PINs and card verification values.
//
// It provides
//
//   - envelope encryption (AES-256-GCM data keys wrapped by a key-encrypting
//     key, the KEK), with a versioned ciphertext format whose additional data
//     binds every ciphertext to its purpose, partner, table, record and field;
//   - a key ring with a lifecycle: new key versions encrypt, older versions
//     only decrypt, retired versions are refused, and Rewrap moves every stored
//     secret, blind index entry and wrapped key forward online, in batches,
//     resumable after a crash;
//   - KEK sources: a configured key, split-knowledge key components, a PKCS#11
//     HSM, and a generated key for local development only;
//   - an HMAC-SHA-256 blind index of PANs under its own versioned key;
//   - PAN generation in a BIN range (Luhn-valid, unique through the blind
//     index), expiry handling and masking;
//   - the Visa CVV algorithm (CVVs are derived on demand, never stored);
//   - ISO 9564 PIN blocks (formats 0 and 4) and a weak-PIN policy;
//   - Secret, a byte type that redacts itself in every formatter, encoder and
//     log handler.
//
// The Visa CVV algorithm and the ISO 9564 PIN block formats are implemented
// here against published test vectors because no maintained Go library for
// them is available from the module proxy; the block ciphers themselves come
// from the standard library.
//
// The package imports no HTTP, HTML or SQL code. Persistence goes through the
// Store interface declared here and implemented in package store.
package vault
