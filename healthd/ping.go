package healthd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingSeq numbers echo requests across all PING_CHECKs.
var pingSeq atomic.Uint32

// pingPayload fills echo requests: 56 bytes, ping(8)'s default size.
var pingPayload = []byte("xlb-healthd PING_CHECK ......................................")[:56]

// pingChecker is PING_CHECK: one ICMP (or ICMPv6) echo request to the
// target; the real passes when the matching echo reply arrives within
// connect_timeout. It uses an unprivileged ICMP datagram socket when
// net.ipv4.ping_group_range allows it, else a raw socket (xlbd runs as
// root); keepalived instead widens ping_group_range, which xlb leaves
// alone. On a raw socket a destination unreachable or time exceeded error
// that quotes the request fails the check at once.
type pingChecker struct {
	s spec
}

func newPingChecker(s spec) *pingChecker { return &pingChecker{s: s} }

func (p *pingChecker) String() string { return p.s.String() }

// icmpConn is an ICMP socket and how to address it.
type icmpConn struct {
	*icmp.PacketConn
	raw   bool
	proto int // for icmp.ParseMessage
}

// icmpListen opens PING_CHECK's sockets; tests open them in a network
// namespace of their own.
var icmpListen = listenICMP

// listenICMP opens an ICMP socket of addr's family bound to local (or any
// address): an unprivileged datagram socket if allowed, else a raw one.
func listenICMP(dst, local netip.Addr) (*icmpConn, error) {
	dgram, raw, proto := "udp4", "ip4:icmp", 1
	any := "0.0.0.0"
	if dst.Is6() {
		dgram, raw, proto, any = "udp6", "ip6:ipv6-icmp", 58, "::"
	}
	if local.IsValid() {
		any = local.String()
	}
	c, err := icmp.ListenPacket(dgram, any)
	if err == nil {
		return &icmpConn{PacketConn: c, proto: proto}, nil
	}
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EPROTONOSUPPORT) {
		return nil, err
	}
	c, rerr := icmp.ListenPacket(raw, any)
	if rerr != nil {
		return nil, fmt.Errorf("ICMP datagram socket: %w; raw socket: %w", err, rerr)
	}
	return &icmpConn{PacketConn: c, raw: true, proto: proto}, nil
}

func (p *pingChecker) Check(ctx context.Context) (int, error) {
	deadline := p.s.deadline(ctx)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	dst := p.s.Target.Addr()
	conn, err := icmpListen(dst, p.s.BindTo.Unmap())
	if err != nil {
		return -1, fail("cannot open an ICMP socket: "+classify(err), err)
	}
	defer conn.Close()
	defer bound(ctx, conn, deadline)()

	id, seq := int(rand.Uint32()&0xffff), int(pingSeq.Add(1)&0xffff)
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if dst.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	req, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: pingPayload}}).Marshal(nil)
	if err != nil {
		return -1, fail("cannot build the echo request", err)
	}
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if conn.raw {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	if _, err := conn.WriteTo(req, to); err != nil {
		return -1, fail(classifyDatagram(err), err)
	}
	buf := make([]byte, 1500)
	for range maxDatagrams {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return -1, fail(classifyDatagram(err), err)
		}
		m, err := icmp.ParseMessage(conn.proto, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			// A datagram socket gets only its own replies, with the id the
			// kernel chose; a raw socket gets every ICMP message, our own
			// request included on loopback.
			if (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) ||
				body.Seq != seq || (conn.raw && body.ID != id) || addrOf(from) != dst {
				continue
			}
			return -1, nil
		case *icmp.DstUnreach:
			if quotesEcho(body.Data, dst, id, seq) {
				return -1, fail(fmt.Sprintf("destination unreachable (ICMP code %d from %v)", m.Code, addrOf(from)), nil)
			}
		case *icmp.TimeExceeded:
			if quotesEcho(body.Data, dst, id, seq) {
				return -1, fail(fmt.Sprintf("time exceeded (from %v)", addrOf(from)), nil)
			}
		}
	}
	return -1, fail("no echo reply", errors.New("too many unrelated ICMP messages"))
}

// addrOf returns the IP address of a socket address.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	out, _ := netip.AddrFromSlice(ip)
	return out.Unmap()
}

// quotesEcho reports whether the datagram quoted in an ICMP error is our
// echo request to dst.
func quotesEcho(quote []byte, dst netip.Addr, id, seq int) bool {
	var off int
	if dst.Is4() {
		if len(quote) < 20 || quote[0]>>4 != 4 {
			return false
		}
		off = int(quote[0]&0xf) * 4
		if a, _ := netip.AddrFromSlice(quote[16:20]); a != dst {
			return false
		}
	} else {
		if len(quote) < 40 || quote[0]>>4 != 6 {
			return false
		}
		off = 40
		if a, _ := netip.AddrFromSlice(quote[24:40]); a != dst {
			return false
		}
	}
	if len(quote) < off+8 {
		return false
	}
	e := quote[off:]
	return (e[0] == byte(ipv4.ICMPTypeEcho) || e[0] == byte(ipv6.ICMPTypeEchoRequest)) &&
		int(binary.BigEndian.Uint16(e[4:])) == id && int(binary.BigEndian.Uint16(e[6:])) == seq
}
