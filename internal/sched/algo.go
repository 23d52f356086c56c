package sched

import (
	"fmt"
	"strings"
)

// Algo is a scheduling algorithm, named as in keepalived's lb_algo and
// ipvsadm's -s.
type Algo uint8

// The supported algorithms. The zero Algo is invalid.
const (
	RR  Algo = iota + 1 // round robin
	WRR                 // weighted round robin
	LC                  // least connection
	WLC                 // weighted least connection
	SH                  // source hashing
	MH                  // Maglev hashing
)

var algoNames = [...]string{RR: "rr", WRR: "wrr", LC: "lc", WLC: "wlc", SH: "sh", MH: "mh"}

// IPVS schedulers keepalived accepts that xlb does not implement.
var unsupportedAlgos = []string{"lblc", "lblcr", "dh", "sed", "nq", "fo", "ovf", "twos"}

// ParseAlgo parses a keepalived lb_algo name (case-insensitive).
func ParseAlgo(s string) (Algo, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for a, n := range algoNames {
		if n != "" && n == name {
			return Algo(a), nil
		}
	}
	for _, n := range unsupportedAlgos {
		if n == name {
			return 0, fmt.Errorf("parse scheduler %q: %w", s, ErrUnsupportedAlgo)
		}
	}
	return 0, fmt.Errorf("parse scheduler %q: %w", s, ErrUnknownAlgo)
}

// Valid reports whether a is one of the supported algorithms.
func (a Algo) Valid() bool { return a >= RR && a <= MH }

// String returns the keepalived name, or "algo(N)" for an invalid value.
func (a Algo) String() string {
	if a.Valid() {
		return algoNames[a]
	}
	return fmt.Sprintf("algo(%d)", uint8(a))
}

// MarshalText implements encoding.TextMarshaler (config files, JSON).
func (a Algo) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("marshal scheduler %d: %w", uint8(a), ErrUnknownAlgo)
	}
	return []byte(algoNames[a]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using [ParseAlgo].
func (a *Algo) UnmarshalText(b []byte) error {
	v, err := ParseAlgo(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Mode is how the dataplane indexes a table.
type Mode uint8

const (
	// ModeCursor: a new connection takes Entries[cursor++ % len]; the
	// cursor restarts at 0 when a new table is installed.
	ModeCursor Mode = iota + 1
	// ModeHash: a new connection takes Entries[hash(client) % len].
	ModeHash
)

// String returns "cursor" or "hash".
func (m Mode) String() string {
	switch m {
	case ModeCursor:
		return "cursor"
	case ModeHash:
		return "hash"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Mode returns how the dataplane indexes a's tables (0 for an invalid Algo).
func (a Algo) Mode() Mode {
	switch a {
	case RR, WRR, LC, WLC:
		return ModeCursor
	case SH, MH:
		return ModeHash
	}
	return 0
}
