package healthd

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var anyAddr = netip.MustParseAddrPort("192.0.2.100:80")

func TestMiscCheckExitCodes(t *testing.T) {
	noLeaks(t)
	p := writeScript(t, "check.sh", `exit "$1"`)
	for _, tc := range []struct {
		code    int
		dynamic bool
		weight  int
		reason  string
	}{
		{0, false, -1, ""},
		{1, false, -1, "exit code 1"},
		{2, false, -1, "exit code 2"},
		{0, true, -1, ""},
		{1, true, -1, "exit code 1"},
		{2, true, 0, ""},
		{12, true, 10, ""},
		{255, true, 253, ""},
	} {
		ch := mustChecker(t, anyAddr, Check{Type: MiscCheck, MiscPath: p + " " + strconv.Itoa(tc.code), MiscDynamic: tc.dynamic})
		w, err := ch.Check(context.Background())
		if reasonOf(err) != tc.reason || w != tc.weight {
			t.Errorf("exit %d dynamic %v: weight %d reason %q, want %d %q", tc.code, tc.dynamic, w, reasonOf(err), tc.weight, tc.reason)
		}
	}
}

func TestMiscCheckShellAndQuotes(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, "check.sh", `[ "$1" = "two words" ]`)
	ch := mustChecker(t, anyAddr, Check{Type: MiscCheck, MiscPath: p + ` "two words"`})
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("quoted argument: %v", err)
	}
	flag := filepath.Join(dir, "flag")
	ch = mustChecker(t, anyAddr, Check{Type: MiscCheck, Shell: true, MiscPath: "test -e " + flag + " && exit 0; exit 1"})
	if _, err := ch.Check(context.Background()); reasonOf(err) != "exit code 1" {
		t.Fatalf("shell check without flag: %v", err)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("shell check with flag: %v", err)
	}
}

func TestMiscCheckTimeoutKillsEverything(t *testing.T) {
	noLeaks(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	p := writeScript(t, "hang.sh", `sleep 60 & echo $! > "$1"; echo $$ >> "$1"; sleep 60`)
	ch := mustChecker(t, anyAddr, Check{Type: MiscCheck, MiscPath: p + " " + pidFile, MiscTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := ch.Check(context.Background())
	if r := reasonOf(err); !strings.HasPrefix(r, "timeout after 200ms") {
		t.Fatalf("reason %q (%v), want a timeout", r, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("check took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(b))
	if len(pids) != 2 {
		t.Fatalf("pid file %q", b)
	}
	child, _ := strconv.Atoi(pids[0])
	settle(t, 2*time.Second, "background child "+pids[0]+" gone", func() bool { return processGone(child) })
	// The script itself is our child: it must be reaped, not a zombie.
	if _, err := os.Stat("/proc/" + pids[1]); !os.IsNotExist(err) {
		t.Fatalf("script process %s still in /proc (zombie?): %v", pids[1], err)
	}
}

func TestMiscCheckMissingProgram(t *testing.T) {
	ch := mustChecker(t, anyAddr, Check{Type: MiscCheck, MiscPath: filepath.Join(t.TempDir(), "nope")})
	if _, err := ch.Check(context.Background()); err == nil || !strings.Contains(reasonOf(err), "not found") {
		t.Fatalf("missing program: %v", err)
	}
}

// processGone reports whether pid no longer runs (absent, or a zombie that
// is not ours to reap).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
