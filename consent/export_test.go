package consent

// HoldHashes takes every Argon2id slot of a until release is called, so that
// tests can see which attempts wait for one.
func HoldHashes(a *SCA) (release func()) {
	n := cap(a.hashing.slots)
	for range n {
		a.hashing.slots <- struct{}{}
	}
	return func() {
		for range n {
			a.hashing.release()
		}
	}
}
