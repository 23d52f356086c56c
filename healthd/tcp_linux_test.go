package healthd

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

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
	addr, _ := blackholeFD(t)
	return addr
}

// blackholeFD is blackhole, with the listening socket.
func blackholeFD(t *testing.T) (netip.AddrPort, int) {
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
	return addr, fd
}

func TestTCPCheckConnectsThroughThePoller(t *testing.T) {
	noLeaks(t)
	addr, lfd := blackholeFD(t)
	ch := mustChecker(t, addr, Check{Type: TCPCheck, ConnectTimeout: 5 * time.Second})
	// The SYN is dropped while the backlog is full; making room lets the
	// retransmitted SYN (after about a second) through, so the connect
	// completes only after connect(2) returned.
	time.AfterFunc(200*time.Millisecond, func() {
		if nfd, _, err := syscall.Accept(lfd); err == nil {
			syscall.Close(nfd)
		}
	})
	start := time.Now()
	if _, err := ch.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("connected after %v, before the backlog had room", d)
	}
}
