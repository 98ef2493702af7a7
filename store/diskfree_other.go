//go:build !unix

package store

// freeSpace is not read on this system: readiness relies on its probe row.
func freeSpace(string) (uint64, bool) { return 0, false }
