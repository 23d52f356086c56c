package sched

import (
	"errors"
	"testing"
)

func TestParseAlgo(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Algo
		wantErr error
	}{
		{"rr", RR, nil},
		{"wrr", WRR, nil},
		{"lc", LC, nil},
		{"wlc", WLC, nil},
		{"sh", SH, nil},
		{"mh", MH, nil},
		{" WLC ", WLC, nil},
		{"sed", 0, ErrUnsupportedAlgo},
		{"lblcr", 0, ErrUnsupportedAlgo},
		{"fastest", 0, ErrUnknownAlgo},
		{"", 0, ErrUnknownAlgo},
	} {
		got, err := ParseAlgo(tc.in)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("ParseAlgo(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestAlgoTextRoundTrip(t *testing.T) {
	for a := RR; a <= MH; a++ {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		var back Algo
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("round trip %v → %q → %v, %v", a, b, back, err)
		}
		if a.String() != string(b) {
			t.Errorf("String %q != text %q", a.String(), b)
		}
	}
	if _, err := Algo(0).MarshalText(); !errors.Is(err, ErrUnknownAlgo) {
		t.Errorf("zero Algo marshals: %v", err)
	}
	if got := Algo(42).String(); got != "algo(42)" {
		t.Errorf("invalid algo String = %q", got)
	}
}

func TestAlgoMode(t *testing.T) {
	want := map[Algo]Mode{RR: ModeCursor, WRR: ModeCursor, LC: ModeCursor, WLC: ModeCursor, SH: ModeHash, MH: ModeHash, 0: 0}
	for a, m := range want {
		if a.Mode() != m {
			t.Errorf("%v.Mode() = %v, want %v", a, a.Mode(), m)
		}
	}
	if ModeCursor.String() != "cursor" || ModeHash.String() != "hash" {
		t.Errorf("mode names %q %q", ModeCursor, ModeHash)
	}
}
