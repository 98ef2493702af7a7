//go:build unix

package store

import "golang.org/x/sys/unix"

// freeSpace is the space left to an unprivileged writer on dir's volume;
// known is false when it cannot be read.
func freeSpace(dir string) (free uint64, known bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true //nolint:gosec // Bsize is a block size, never negative
}
