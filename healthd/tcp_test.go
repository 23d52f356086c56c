package healthd

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTCPCheck(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	remotes := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			remotes <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	ch := mustChecker(t, addr, Check{Type: TCPCheck, ConnectTimeout: time.Second})
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("open port: %v", err)
	}
	<-remotes

	bound := mustChecker(t, netip.MustParseAddrPort("192.0.2.1:9"), Check{
		Type: TCPCheck, ConnectIP: addr.Addr(), ConnectPort: addr.Port(),
		BindTo: netip.MustParseAddr("127.0.0.3"), BindPort: closedPort(t).Port(),
	})
	for range 2 { // the fixed source port is reusable at once
		if _, err := bound.Check(context.Background()); err != nil {
			t.Fatalf("bindto/bind_port: %v", err)
		}
		if r := <-remotes; !strings.HasPrefix(r, "127.0.0.3:") {
			t.Fatalf("connection from %s, want 127.0.0.3", r)
		}
	}

	ln.Close() // the listener goes away: refused
	if _, err := ch.Check(context.Background()); reasonOf(err) != "connection refused" {
		t.Fatalf("closed port: reason %q (%v), want connection refused", reasonOf(err), err)
	}
}

func TestTCPCheckTimeout(t *testing.T) {
	noLeaks(t)
	addr := blackhole(t)
	ch := mustChecker(t, addr, Check{Type: TCPCheck, ConnectTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := ch.Check(context.Background())
	if reasonOf(err) != "timeout" {
		t.Fatalf("reason %q (%v), want timeout", reasonOf(err), err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > time.Second {
		t.Fatalf("check took %v with a 100ms timeout", d)
	}
}

// blackhole returns a loopback address whose SYNs go unanswered: a listener
// that never accepts, its backlog of one already full.
func blackhole(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue; further connects hang.
	for range 3 {
		c, err := net.DialTimeout("tcp", addr.String(), 50*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}
