package verify

import "context"

// Keyring supplies the HMAC secrets currently accepted. Holding several
// secrets allows zero-downtime rotation: a delivery matching any of them is
// accepted. Implementations must be safe for concurrent use.
type Keyring interface {
	// Secrets returns the accepted secrets, newest first. An error wrapping
	// ErrKeySetUnavailable (or any error, which the Verifier treats the same
	// way) means none can be had right now.
	Secrets(ctx context.Context) ([]Secret, error)
	// Refresh is called when a well-formed, in-tolerance delivery matched
	// none of the secrets. The implementation may re-read its source
	// (rate-limiting that is its own job) and reports whether the set
	// changed; when it did, the Verifier tries once more.
	Refresh(ctx context.Context) (changed bool, err error)
}

// StaticKeyring is a fixed list of secrets, newest first. Its Refresh never
// reports a change.
type StaticKeyring []Secret

// Secrets returns the list itself.
func (k StaticKeyring) Secrets(context.Context) ([]Secret, error) { return k, nil }

// Refresh reports false: a static list never changes.
func (k StaticKeyring) Refresh(context.Context) (bool, error) { return false, nil }
