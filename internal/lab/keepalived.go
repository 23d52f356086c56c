package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Keepalived is a keepalived (Debian's package) run in a lab namespace as
// a real VRRP peer: VRRP only, in the foreground, logging to a buffer.
type Keepalived struct {
	dir  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartKeepalived writes conf to dir and runs keepalived on it in ns.
func StartKeepalived(ns *NS, dir, conf string) (*Keepalived, error) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		return nil, fmt.Errorf("keepalived not installed: %w", err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	k := &Keepalived{dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	// -n foreground, -l -D detailed log to the console, -P VRRP only,
	// -G no syslog, -R no respawning of children.
	k.cmd = ns.Command(context.Background(), "keepalived", "-n", "-l", "-D", "-P", "-G", "-R",
		"-f", path, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start keepalived: %w", err)
	}
	go func() { k.cmd.Wait(); close(k.done) }()
	return k, nil
}

// Logs is what keepalived printed.
func (k *Keepalived) Logs() string { return k.out.String() }

func (k *Keepalived) vrrpPID() int {
	b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Signal sends sig without waiting. SIGKILL goes to the VRRP child first,
// as a crash would take it.
func (k *Keepalived) Signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		if pid := k.vrrpPID(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = k.cmd.Process.Signal(sig)
}

// Kill crashes keepalived and waits for it to be gone.
func (k *Keepalived) Kill() {
	k.Signal(syscall.SIGKILL)
	<-k.done
}

// Stop stops keepalived cleanly (SIGTERM), killing it after 5 s.
func (k *Keepalived) Stop() error {
	select {
	case <-k.done:
		return nil
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
		return nil
	case <-time.After(5 * time.Second):
		k.Kill()
		return errors.New("keepalived did not stop on SIGTERM")
	}
}

// WaitLog waits until keepalived logged s.
func (k *Keepalived) WaitLog(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(k.Logs(), s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("keepalived did not log %q within %s", s, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
