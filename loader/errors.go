package loader

import "errors"

// Sentinel errors of the loader.
var (
	// ErrIncompatibleMaps means pinned maps were made by an xlb with
	// another layout or size: restart with ResetMaps to replace them,
	// which forgets tracked connections.
	ErrIncompatibleMaps = errors.New("pinned maps have another layout or size")
	// ErrFull means a map or id space is full.
	ErrFull = errors.New("dataplane table full")
	// ErrUnknownService is returned for a service the dataplane doesn't have.
	ErrUnknownService = errors.New("unknown virtual service")
)
