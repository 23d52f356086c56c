package sync

import "errors"

// Reasons a received message is rejected. Each has a counter in
// Status.Rejected.
var (
	// ErrBadFormat: truncated, oversized, not a sync message, or entries
	// that do not parse.
	ErrBadFormat = errors.New("malformed sync message")
	// ErrWrongVersion: a protocol version this director does not speak.
	ErrWrongVersion = errors.New("unsupported sync protocol version")
	// ErrBadMAC: the HMAC is missing, wrong, or present while this
	// director has no key.
	ErrBadMAC = errors.New("sync message authentication failed")
	// ErrReplay: a sequence number already seen or older than the window.
	ErrReplay = errors.New("replayed sync message")
	// ErrOldEpoch: a session of a master that has since been replaced.
	ErrOldEpoch = errors.New("sync message from a retired session")
)
