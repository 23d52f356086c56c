package healthd

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStrtol(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "12": 12, "  -7\n": -7, "+3": 3, "0x1f": 31, "0X10": 16, "010": 8, "08": 0, "0x": 0,
		"12abc": 12, "abc": 0, "": 0, "\t 42 trailing": 42, "-0x10": -16, "2147483648": 2147483648,
	} {
		got, ok := strtol(in)
		if !ok || got != want {
			t.Errorf("strtol(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	if _, ok := strtol("99999999999999999999"); ok {
		t.Error("64-bit overflow accepted")
	}
}

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	check := func(weight int, reverse bool) Checker {
		return mustChecker(t, anyAddr, Check{Type: FileCheck, TrackFile: "tf", FilePath: path, FileWeight: weight, FileReverse: reverse})
	}
	for _, tc := range []struct {
		content string // "-" removes the file
		weight  int
		reverse bool
		add     int
		reason  string
	}{
		{"0\n", 0, false, 0, ""},
		{"1\n", 0, false, 0, "track file tf: value 1"},
		{"-", 0, false, 0, ""}, // a missing file reads as 0
		{"", 0, false, 0, ""},
		{"junk", 0, false, 0, ""},
		{"0", 0, true, 0, "track file tf: value 0"},
		{"5", 0, true, 0, ""},
		{"3", 10, false, 30, ""},
		{"3", 10, true, -30, ""},
		{"-2", 7, false, -14, ""},
		{"0x10", 1, false, 16, ""},
		{"1", -2147483647, false, -2147483647, ""},
		{"2", -2147483647, false, 0, "track file tf: value 2 × weight -2147483647 is at most -2147483648"},
		{"2147483648", 1, true, 0, "track file tf: value 2147483648 × weight -1 is at most -2147483648"},
		{"2147483647", 254, false, math.MaxInt32, ""},
	} {
		if tc.content == "-" {
			os.Remove(path)
		} else {
			writeFileAtomic(t, path, tc.content)
		}
		w, err := check(tc.weight, tc.reverse).Check(t.Context())
		if reasonOf(err) != tc.reason || (err == nil && w != tc.add) {
			t.Errorf("file %q weight %d reverse %v: adds %d, reason %q; want %d %q", tc.content, tc.weight, tc.reverse, w, reasonOf(err), tc.add, tc.reason)
		}
	}
	// A number outside the 32-bit range is ignored: the last one stays.
	ch := check(10, false)
	writeFileAtomic(t, path, "4")
	if w, err := ch.Check(t.Context()); w != 40 || err != nil {
		t.Fatalf("4: %d %v", w, err)
	}
	writeFileAtomic(t, path, "99999999999")
	if w, err := ch.Check(t.Context()); w != 40 || err != nil {
		t.Fatalf("out of range: %d %v, want the last value kept", w, err)
	}
}

// TestMonitorFileCheck: the file's state applies from the start (alpha or
// not, without a flap), weights move with the number, a fault puts the
// real down, and init_file creates the file.
func TestMonitorFileCheck(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "maint")
	writeFileAtomic(t, path, "1\n")
	ev := &stashedEvents{events: newEvents()}
	m := New(Options{OnEvent: ev.on}, testLogger(t))
	fc := func(weight int, p string) Check {
		return Check{Type: FileCheck, TrackFile: "maint", FilePath: p, FileWeight: weight}
	}
	created := filepath.Join(dir, "created")
	init := fc(10, created)
	init.InitFile, init.InitValue = true, 2
	err := m.Set([]VirtualServer{{Key: "web", Reals: []Real{
		{Key: "w1", Addr: anyAddr, Weight: 5, Checks: []Check{fc(0, path)}},
		{Key: "w2", Addr: anyAddr, Weight: 5, Checks: []Check{fc(-3, path)}},
		{Key: "w3", Addr: anyAddr, Weight: 5, Checks: []Check{init}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, m)
	if e, _ := ev.waitReal(t, "w1", time.Second); e.Up || !strings.Contains(e.Reason, "FILE_CHECK maint ("+path+"): track file maint: value 1") {
		t.Fatalf("w1 initial %+v, want down from the file at once", e)
	}
	if e, _ := ev.waitReal(t, "w2", time.Second); !e.Up || e.Weight != 2 {
		t.Fatalf("w2 initial %+v, want up with 5 - 3", e)
	}
	if e, _ := ev.waitReal(t, "w3", time.Second); !e.Up || e.Weight != 25 {
		t.Fatalf("w3 initial %+v, want 5 + 2×10 from the file init_file wrote", e)
	}
	if b, err := os.ReadFile(created); err != nil || string(b) != "2\n" {
		t.Fatalf("init_file wrote %q %v", b, err)
	}
	writeFileAtomic(t, path, "0\n")
	if e, _ := ev.waitReal(t, "w1", 3*time.Second); !e.Up || e.Weight != 5 {
		t.Fatalf("w1 after 0: %+v", e)
	}
	if e, _ := ev.waitReal(t, "w2", 3*time.Second); !e.Up || e.Weight != 5 {
		t.Fatalf("w2 after 0: %+v", e)
	}
	writeFileAtomic(t, path, "-1000000000\n")
	e, _ := ev.waitReal(t, "w1", 3*time.Second)
	if e.Up {
		t.Fatalf("w1 after non-zero: %+v", e)
	}
	// -1e9 × -3 = 3e9 is limited to the largest 32-bit int, as the
	// real's weight is.
	e, _ = ev.waitReal(t, "w2", 3*time.Second)
	if !e.Up || e.Weight != math.MaxInt32 || !strings.Contains(e.Reason, "now adds 2147483647 to the weight") {
		t.Fatalf("w2 after -1e9: %+v, want the largest weight", e)
	}
	writeFileAtomic(t, path, "1000000000\n")
	e, _ = ev.waitReal(t, "w2", 3*time.Second)
	if e.Up || !strings.Contains(e.Reason, "is at most -2147483648") {
		t.Fatalf("w2 after 1e9: %+v, want down (fault)", e)
	}

	// A reload does not overwrite the file, even with init_overwrite;
	// only the first configuration does.
	writeFileAtomic(t, created, "7\n")
	init.InitOverwrite = true
	if err := m.Set([]VirtualServer{{Key: "web", Reals: []Real{{Key: "w3", Addr: anyAddr, Weight: 5, Checks: []Check{init}}}}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(created); string(b) != "7\n" {
		t.Fatalf("reload overwrote the track file: %q", b)
	}
	m2 := New(Options{}, nil)
	if err := m2.Set([]VirtualServer{{Key: "web", Reals: []Real{{Key: "w3", Addr: anyAddr, Weight: 5, Checks: []Check{init}}}}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(created); string(b) != "2\n" {
		t.Fatalf("first Set with init_overwrite left %q", b)
	}
}

// stashedEvents is events whose waitReal keeps the other reals' events for
// later instead of dropping them, for tests where several reals change at
// once.
type stashedEvents struct {
	*events
	stash map[string][]RealEvent
}

func (e *stashedEvents) waitReal(t *testing.T, real string, timeout time.Duration) (RealEvent, time.Time) {
	t.Helper()
	if l := e.stash[real]; len(l) > 0 {
		e.stash[real] = l[1:]
		return l[0], time.Time{}
	}
	deadline := time.After(timeout)
	for {
		select {
		case te := <-e.ch:
			re, ok := te.ev.(RealEvent)
			switch {
			case !ok:
			case re.Real == real:
				return re, te.at
			default:
				if e.stash == nil {
					e.stash = map[string][]RealEvent{}
				}
				e.stash[re.Real] = append(e.stash[re.Real], re)
			}
		case <-deadline:
			t.Fatalf("no event for real %s within %v", real, timeout)
		}
	}
}
