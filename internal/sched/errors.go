package sched

import "errors"

var (
	// ErrUnknownAlgo is returned for a scheduler name that is not an IPVS
	// scheduler at all.
	ErrUnknownAlgo = errors.New("unknown scheduler")
	// ErrUnsupportedAlgo is returned for an IPVS scheduler xlb does not
	// implement (lblc, lblcr, dh, sed, nq, fo, ovf, twos).
	ErrUnsupportedAlgo = errors.New("unsupported scheduler")
	// ErrNoReals is returned when no real can be chosen: none was given or
	// every real has weight 0. The dataplane has nothing to forward to.
	ErrNoReals = errors.New("no available real")
	// ErrInvalidReal is returned for a real that cannot be scheduled: a
	// negative weight, an ID outside 0..MaxInt32, a duplicate ID, or (mh) a
	// missing or duplicate address.
	ErrInvalidReal = errors.New("invalid real")
	// ErrTableSize is returned when an explicit table size does not fit the
	// algorithm, or a table would exceed Options.MaxEntries.
	ErrTableSize = errors.New("invalid table size")
)
