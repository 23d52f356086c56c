package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for Script.
const (
	// DefaultTimeout bounds a script that sets no timeout of its own.
	DefaultTimeout = 30 * time.Second
	// DefaultKillGrace is the time between SIGTERM and SIGKILL to a script's
	// process group once its timeout has passed.
	DefaultKillGrace = time.Second
	// OutputLimit is how much of a script's combined stdout and stderr is
	// kept for error messages; the rest is read and discarded.
	OutputLimit = 512
)

// CleanPATH is the whole environment scripts see, and where command names
// without a slash are looked up.
const CleanPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Sentinel errors of Command.Run.
var (
	// ErrTimeout: the script overran its timeout and its process group was
	// killed.
	ErrTimeout = errors.New("timed out")
	// ErrNotFound: the program does not exist or is not executable.
	ErrNotFound = errors.New("program not found")
)

// Script describes an external program to run, as keepalived's notify
// scripts and MISC_CHECK misc_path.
type Script struct {
	// Line is the command line: the program and its arguments, split with
	// SplitCommandLine unless Shell is set.
	Line string
	// Shell runs Line with /bin/sh -c instead of splitting it.
	Shell bool
	// User runs the script as "user" or "user:group" (keepalived's
	// script user); empty keeps the daemon's identity.
	User string
	// Timeout bounds one run; 0 means DefaultTimeout.
	Timeout time.Duration
	// KillGrace is how long a script that overran its timeout gets between
	// SIGTERM and SIGKILL; 0 means DefaultKillGrace.
	KillGrace time.Duration
}

// Command is a compiled Script, ready to run any number of times.
type Command struct {
	script Script
	argv   []string
	cred   *syscall.Credential
}

// Result is the outcome of one run.
type Result struct {
	// ExitCode is the exit status, or -1 when a signal ended the program.
	ExitCode int
	// TimedOut is set when the run overran its timeout or its context ended
	// and the process group was killed.
	TimedOut bool
	// Output is the start of the combined stdout and stderr, at most
	// OutputLimit bytes.
	Output string
	// Duration is how long the run took.
	Duration time.Duration
}

// ExitError is returned by RunScript for a script that exited non-zero.
type ExitError struct {
	Code   int
	Output string
}

func (e *ExitError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return fmt.Sprintf("exit code %d: %s", e.Code, e.Output)
}

// Compile checks the script's command line and resolves its user.
func (s Script) Compile() (*Command, error) {
	c := &Command{script: s}
	if c.script.Timeout <= 0 {
		c.script.Timeout = DefaultTimeout
	}
	if c.script.KillGrace <= 0 {
		c.script.KillGrace = DefaultKillGrace
	}
	if strings.TrimSpace(s.Line) == "" {
		return nil, errors.New("empty command line")
	}
	if s.Shell {
		c.argv = []string{"/bin/sh", "-c", s.Line, "sh"}
	} else {
		argv, err := SplitCommandLine(s.Line)
		if err != nil {
			return nil, err
		}
		if len(argv) == 0 || argv[0] == "" {
			return nil, fmt.Errorf("command line %q names no program", s.Line)
		}
		c.argv = argv
	}
	if s.User != "" {
		cred, err := lookupCredential(s.User)
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	return c, nil
}

// String returns the command line.
func (c *Command) String() string {
	if c.script.Shell {
		return "sh -c " + strconv.Quote(c.script.Line)
	}
	return c.script.Line
}

// Timeout is the bound on one run.
func (c *Command) Timeout() time.Duration { return c.script.Timeout }

// Run runs the command once with args appended to its arguments (as
// positional parameters $1… with Shell) and waits for it. A non-zero exit is
// not an error here: it is in Result.ExitCode. Errors are failures to start
// it, ErrTimeout when it overran its timeout, and ctx's error when ctx ended
// first; in both of the latter the whole process group was killed.
func (c *Command) Run(ctx context.Context, args ...string) (Result, error) {
	path := c.argv[0]
	if !strings.Contains(path, "/") {
		p, err := lookPath(path)
		if err != nil {
			return Result{ExitCode: -1}, err
		}
		path = p
	}
	argv := make([]string, 0, len(c.argv)+len(args))
	argv = append(append(argv, c.argv...), args...)

	runCtx, cancel := context.WithTimeout(ctx, c.script.Timeout)
	defer cancel()
	out := &prefixBuffer{limit: OutputLimit}
	cmd := exec.CommandContext(runCtx, path)
	cmd.Args = argv
	cmd.Env = []string{"PATH=" + CleanPATH}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	var killed atomic.Bool
	cmd.Cancel = func() error {
		killed.Store(true)
		return killGroup(cmd.Process.Pid, syscall.SIGTERM)
	}
	// WaitDelay is both the grace between SIGTERM and SIGKILL and the bound
	// on waiting for a background child that keeps the output pipe open.
	cmd.WaitDelay = c.script.KillGrace

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return Result{ExitCode: -1}, fmt.Errorf("start %s: %w: %w", argv[0], ErrNotFound, err)
		}
		return Result{ExitCode: -1}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	waitErr := cmd.Wait()
	res := Result{
		ExitCode: cmd.ProcessState.ExitCode(),
		Output:   out.String(),
		Duration: time.Since(start),
	}
	if killed.Load() {
		// Whatever the leader did, sweep the rest of its group.
		_ = killGroup(cmd.Process.Pid, syscall.SIGKILL)
		res.TimedOut = true
		if ctx.Err() != nil {
			return res, fmt.Errorf("run %s: %w", argv[0], ctx.Err())
		}
		return res, fmt.Errorf("run %s: %w after %s", argv[0], ErrTimeout, c.script.Timeout)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("wait %s: %w", argv[0], waitErr)
	}
	return res, nil
}

// RunScript runs cmdline (split keepalived-style, no shell) with args
// appended, a clean environment and DefaultTimeout, and returns an error
// unless it exits 0: an *ExitError for a non-zero exit.
func RunScript(ctx context.Context, cmdline string, args ...string) error {
	cmd, err := Script{Line: cmdline}.Compile()
	if err != nil {
		return err
	}
	return cmd.RunChecked(ctx, args...)
}

// RunChecked is Run, with a non-zero exit turned into an *ExitError.
func (c *Command) RunChecked(ctx context.Context, args ...string) error {
	res, err := c.Run(ctx, args...)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("run %s: %w", c.argv[0], &ExitError{Code: res.ExitCode, Output: res.Output})
	}
	return nil
}

func killGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	return nil
}

// lookPath finds name in CleanPATH, not in the daemon's own PATH.
func lookPath(name string) (string, error) {
	for dir := range strings.SplitSeq(CleanPATH, ":") {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in %s", name, ErrNotFound, CleanPATH)
}

// lookupCredential resolves "user" or "user:group" (names or numeric ids).
func lookupCredential(spec string) (*syscall.Credential, error) {
	name, group, _ := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.ParseUint(name, 10, 32); numErr != nil {
			return nil, fmt.Errorf("script user %q: %w", name, err)
		}
		if u, err = user.LookupId(name); err != nil {
			return nil, fmt.Errorf("script user %q: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: uid %q: %w", name, u.Uid, err)
	}
	gidStr := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			if _, numErr := strconv.ParseUint(group, 10, 32); numErr != nil {
				return nil, fmt.Errorf("script group %q: %w", group, err)
			}
			if g, err = user.LookupGroupId(group); err != nil {
				return nil, fmt.Errorf("script group %q: %w", group, err)
			}
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script group %q: gid %q: %w", group, gidStr, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if group == "" {
		// The user's supplementary groups, as login would set them.
		ids, err := u.GroupIds()
		if err == nil {
			for _, s := range ids {
				if v, err := strconv.ParseUint(s, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(v))
				}
			}
		}
	}
	return cred, nil
}

// prefixBuffer keeps the first limit bytes written to it and discards the
// rest, so a chatty script neither blocks on its pipe nor fills memory.
type prefixBuffer struct {
	limit int
	buf   []byte
}

func (b *prefixBuffer) Write(p []byte) (int, error) {
	if room := b.limit - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *prefixBuffer) String() string {
	return strings.TrimSpace(strings.ToValidUTF8(string(b.buf), "?"))
}
