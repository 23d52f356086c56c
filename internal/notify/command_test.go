package notify

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable shell script into a fresh temp dir.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// processGone reports whether pid no longer runs (absent, or a zombie left
// to init).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func compile(t *testing.T, s Script) *Command {
	t.Helper()
	c, err := s.Compile()
	if err != nil {
		t.Fatalf("compile %q: %v", s.Line, err)
	}
	return c
}

func TestRunExitCodesAndArgs(t *testing.T) {
	p := writeScript(t, `echo "args:$#:$1:$2"; exit "$3"`)
	for _, code := range []int{0, 1, 7, 255} {
		c := compile(t, Script{Line: p + ` "a b" c`})
		res, err := c.Run(context.Background(), strconv.Itoa(code))
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if res.ExitCode != code {
			t.Errorf("exit code %d, want %d", res.ExitCode, code)
		}
		if res.Output != "args:3:a b:c" {
			t.Errorf("output %q, want the quoted argument kept whole and the extra one appended", res.Output)
		}
	}
}

func TestRunCleanEnvironment(t *testing.T) {
	t.Setenv("XLB_SECRET", "leak")
	p := writeScript(t, `env`)
	res, err := compile(t, Script{Line: p}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, l := range strings.Split(res.Output, "\n") {
		name, _, _ := strings.Cut(l, "=")
		// sh itself exports PWD (and SHLVL, _ on some shells).
		switch name {
		case "PWD", "SHLVL", "_", "OLDPWD":
			continue
		}
		vars = append(vars, l)
	}
	if len(vars) != 1 || vars[0] != "PATH="+CleanPATH {
		t.Fatalf("script environment %q, want only PATH=%s", vars, CleanPATH)
	}
}

func TestRunShellMode(t *testing.T) {
	c := compile(t, Script{Line: `echo "$1-$2" | tr a-z A-Z; exit 3`, Shell: true})
	res, err := c.Run(context.Background(), "x", "y")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Output != "X-Y" {
		t.Fatalf("got exit %d output %q, want exit 3 output X-Y", res.ExitCode, res.Output)
	}
}

func TestRunNoShellByDefault(t *testing.T) {
	// Without a shell, ';' and '$' are plain argument characters.
	c := compile(t, Script{Line: `/bin/echo a;b $HOME`})
	res, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "a;b $HOME" {
		t.Fatalf("output %q, want the literal arguments", res.Output)
	}
}

func TestRunLooksUpNameInCleanPath(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	res, err := compile(t, Script{Line: "true"}).Run(context.Background())
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run true with a bogus daemon PATH: %+v, %v", res, err)
	}
	_, err = compile(t, Script{Line: "xlb-no-such-program"}).Run(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing program: err %v, want ErrNotFound", err)
	}
	_, err = compile(t, Script{Line: filepath.Join(t.TempDir(), "missing")}).Run(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing path: err %v, want ErrNotFound", err)
	}
}

func TestRunOutputIsBounded(t *testing.T) {
	p := writeScript(t, `i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done`)
	res, err := compile(t, Script{Line: p}).Run(context.Background())
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if len(res.Output) > OutputLimit {
		t.Fatalf("kept %d bytes of output, limit %d", len(res.Output), OutputLimit)
	}
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"sigterm is enough", `sleep 30 & echo $! > "$1"; sleep 30`},
		{"sigterm ignored so sigkill follows", `trap '' TERM; sleep 30 & echo $! > "$1"; while :; do sleep 1; done`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := countFDs(t)
			p := writeScript(t, tc.body)
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			c := compile(t, Script{Line: p, Timeout: 300 * time.Millisecond, KillGrace: 200 * time.Millisecond})
			start := time.Now()
			res, err := c.Run(context.Background(), pidFile)
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTimeout) || !res.TimedOut {
				t.Fatalf("run: %+v, %v; want ErrTimeout", res, err)
			}
			if elapsed > 2*time.Second {
				t.Fatalf("run took %v, want about timeout+grace", elapsed)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("script did not record its child: %v", err)
			}
			child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			deadline := time.Now().Add(2 * time.Second)
			for !processGone(child) {
				if time.Now().After(deadline) {
					t.Fatalf("background child %d of the script still runs", child)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := countFDs(t); got > fds {
				t.Fatalf("fds %d after run, %d before", got, fds)
			}
		})
	}
}

func TestRunContextCancel(t *testing.T) {
	p := writeScript(t, `sleep 30`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err := compile(t, Script{Line: p, Timeout: time.Minute}).Run(ctx)
	if !errors.Is(err, context.Canceled) || !res.TimedOut {
		t.Fatalf("run: %+v, %v; want context.Canceled", res, err)
	}
}

func TestRunBackgroundChildHoldingOutputDoesNotHang(t *testing.T) {
	// The script exits at once but leaves a child with its stdout; Run must
	// not wait for that child.
	p := writeScript(t, `sleep 5 & echo started`)
	start := time.Now()
	res, err := compile(t, Script{Line: p, KillGrace: 100 * time.Millisecond}).Run(context.Background())
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("run waited %v for a background child", d)
	}
}

func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching user needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no nobody user: %v", err)
	}
	res, err := compile(t, Script{Line: "id -u", User: "nobody"}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != u.Uid {
		t.Fatalf("id -u printed %q, want %s", res.Output, u.Uid)
	}
	if _, err := (Script{Line: "true", User: "xlb-no-such-user"}).Compile(); err == nil {
		t.Fatal("unknown user compiled")
	}
}

func TestRunScript(t *testing.T) {
	p := writeScript(t, `echo "bad $1" >&2; exit 4`)
	err := RunScript(context.Background(), p, "thing")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 4 || ee.Output != "bad thing" {
		t.Fatalf("RunScript: %v, want exit code 4 with the output", err)
	}
	if err := RunScript(context.Background(), "true"); err != nil {
		t.Fatalf("RunScript true: %v", err)
	}
	if err := RunScript(context.Background(), `/bin/x "unterminated`); err == nil {
		t.Fatal("bad command line ran")
	}
}
