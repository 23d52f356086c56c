package healthd

import (
	"context"
	"net"
	"net/netip"
	"strings"
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
