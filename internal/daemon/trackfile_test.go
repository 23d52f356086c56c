package daemon

import "testing"

// TestTrackFileState: keepalived's rule for a vrrp_instance tracking a
// file, in the node's terms (a tracked script's ok and weight: a negative
// weight counts while not ok, a positive one while ok, and weight 0 not ok
// is a fault).
func TestTrackFileState(t *testing.T) {
	for _, tc := range []struct {
		v       int64
		weight  int
		reverse bool
		ok      bool
		w       int
	}{
		{0, 0, false, true, 0},      // weight 0: zero is fine
		{3, 0, false, false, 0},     // ... any other number a fault
		{0, 0, true, false, 0},      // reverse: zero is the fault
		{3, 0, true, true, 0},       //
		{10, -5, false, false, -50}, // lowers the priority by 50
		{10, 5, false, true, 50},    // raises it
		{10, 5, true, false, -50},   // reverse negates
		{-10, 5, false, false, -50}, // a negative number
		{0, 5, false, true, 0},      // no change
		{51, -5, false, false, 0},   // -255: FAULT
		{50, -5, false, false, -250},
		{1 << 31, 254, false, true, 254}, // capped
		{-(1 << 31), 254, false, false, 0},
	} {
		ok, w := trackFileState(tc.v, tc.weight, tc.reverse)
		if ok != tc.ok || w != tc.w {
			t.Errorf("value %d weight %d reverse %v: ok %v weight %d, want %v %d", tc.v, tc.weight, tc.reverse, ok, w, tc.ok, tc.w)
		}
	}
}
