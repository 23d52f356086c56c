package vrrp

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// IPProtocol is the IP protocol number of VRRP.
const IPProtocol = 112

// TTL is the IPv4 TTL / IPv6 hop limit every advertisement carries and
// every multicast advertisement must arrive with (RFC 5798 §5.1.1.3).
const TTL = 255

// Multicast groups of VRRP (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// TypeAdvertisement is the only VRRP packet type.
const TypeAdvertisement = 1

// Authentication types of VRRPv2 (RFC 3768 §5.3.6). VRRPv3 has none.
const (
	AuthNone = 0
	AuthPass = 1 // simple text password, 8 octets, zero padded
	AuthAH   = 2 // IPsec AH: deprecated, not supported
)

const (
	headerLen  = 8
	authLen    = 8 // VRRPv2 authentication data
	maxV3Centi = 0x0fff
)

// Packet is a VRRP advertisement, version 2 or 3.
type Packet struct {
	Version  uint8 // 2 or 3
	Type     uint8 // TypeAdvertisement
	VRID     uint8
	Priority uint8
	// AuthType and Auth are VRRPv2 only.
	AuthType uint8
	Auth     [authLen]byte
	// Interval is the advertisement interval: whole seconds in v2,
	// centiseconds (at most 40.95 s) in v3.
	Interval time.Duration
	// Addrs are the virtual addresses: IPv4 in v2; all IPv4 or all IPv6 in v3.
	Addrs []netip.Addr
	// Checksum is the checksum as received (Decode) or as computed (Marshal).
	Checksum uint16
}

// DropReason says why an advertisement was dropped. Every reason has its
// own counter.
type DropReason uint8

// Drop reasons, one per validation rule of RFC 3768 §7.1 / RFC 5798 §7.1.
const (
	DropTruncated DropReason = iota + 1 // shorter than the header or the address list it announces
	DropLength                          // trailing bytes after the address list
	DropTTL                             // TTL / hop limit not 255 on a multicast advertisement
	DropVersion                         // version differs from the instance's
	DropType                            // type is not advertisement
	DropVRID                            // no instance with this VRID on the interface
	DropAuthType                        // v2 auth type differs from the instance's
	DropAuth                            // v2 password differs
	DropInterval                        // v2 advertisement interval differs
	DropChecksum                        // checksum wrong
	DropAddrList                        // virtual address list differs from the instance's
	DropDest                            // multicast received by a unicast instance or vice versa
	DropPeer                            // unicast source not among the unicast peers
	DropFamily                          // address family differs from the instance's
	numDropReasons
)

var dropNames = [...]string{
	DropTruncated: "truncated",
	DropLength:    "length",
	DropTTL:       "ttl",
	DropVersion:   "version",
	DropType:      "type",
	DropVRID:      "vrid",
	DropAuthType:  "auth_type",
	DropAuth:      "auth",
	DropInterval:  "interval",
	DropChecksum:  "checksum",
	DropAddrList:  "addr_list",
	DropDest:      "dest",
	DropPeer:      "peer",
	DropFamily:    "family",
}

func (r DropReason) String() string {
	if r > 0 && r < numDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// DropReasons lists every drop reason, for counters and metrics.
func DropReasons() []DropReason {
	rs := make([]DropReason, 0, numDropReasons-1)
	for r := DropTruncated; r < numDropReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// DropError is a validation failure: the packet must be dropped and
// counted under Reason.
type DropError struct {
	Reason DropReason
	Detail string
}

func (e *DropError) Error() string {
	if e.Detail == "" {
		return "vrrp: drop: " + e.Reason.String()
	}
	return "vrrp: drop: " + e.Reason.String() + ": " + e.Detail
}

func drop(r DropReason, format string, args ...any) error {
	return &DropError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Reason returns the drop reason of err, or 0 if err is not a *DropError.
func Reason(err error) DropReason {
	var de *DropError
	if errors.As(err, &de) {
		return de.Reason
	}
	return 0
}

// PassAuth returns the 8-octet authentication data for a v2 PASS
// password: truncated to 8 octets and zero padded, as keepalived does.
func PassAuth(pass string) [authLen]byte {
	var a [authLen]byte
	copy(a[:], pass)
	return a
}

// Marshal encodes the packet and fills in p.Checksum. src and dst are the
// IP source and destination; VRRPv3 includes them in the checksum's
// pseudo-header, and their family sets the address size of v3.
func (p *Packet) Marshal(src, dst netip.Addr) ([]byte, error) {
	if p.Version != 2 && p.Version != 3 {
		return nil, fmt.Errorf("vrrp: marshal: version %d", p.Version)
	}
	if len(p.Addrs) > 255 {
		return nil, fmt.Errorf("vrrp: marshal: %d addresses, at most 255", len(p.Addrs))
	}
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return nil, fmt.Errorf("vrrp: marshal: source %v and destination %v", src, dst)
	}
	v6 := src.Is6()
	if p.Version == 2 && v6 {
		return nil, errors.New("vrrp: marshal: VRRPv2 is IPv4 only")
	}
	alen := 4
	if v6 {
		alen = 16
	}
	n := headerLen + alen*len(p.Addrs)
	if p.Version == 2 {
		n += authLen
	}
	b := make([]byte, n)
	b[0] = p.Version<<4 | p.Type&0x0f
	b[1] = p.VRID
	b[2] = p.Priority
	b[3] = uint8(len(p.Addrs))
	switch p.Version {
	case 2:
		secs := p.Interval / time.Second
		if secs < 1 || secs > 255 || p.Interval%time.Second != 0 {
			return nil, fmt.Errorf("vrrp: marshal: v2 interval %v is not 1-255 whole seconds", p.Interval)
		}
		b[4] = p.AuthType
		b[5] = uint8(secs)
		copy(b[n-authLen:], p.Auth[:])
	case 3:
		cs := p.Interval / (10 * time.Millisecond)
		if cs < 1 || cs > maxV3Centi || p.Interval%(10*time.Millisecond) != 0 {
			return nil, fmt.Errorf("vrrp: marshal: v3 interval %v is not 10ms-40.95s in centiseconds", p.Interval)
		}
		binary.BigEndian.PutUint16(b[4:], uint16(cs))
	}
	off := headerLen
	for _, a := range p.Addrs {
		if a.Is6() != v6 || a.Is4In6() {
			return nil, fmt.Errorf("vrrp: marshal: address %v does not match family of %v", a, src)
		}
		off += copy(b[off:], a.AsSlice())
	}
	var ck uint16
	if p.Version == 3 {
		ck = checksum(b, pseudoSum(src, dst, len(b)))
	} else {
		ck = checksum(b, 0)
	}
	binary.BigEndian.PutUint16(b[6:], ck)
	p.Checksum = ck
	return b, nil
}

// Decode parses an advertisement received from src to dst (the IP
// header's addresses) and verifies what the packet alone can prove:
// length, version, type, address count and checksum. Rules that need the
// receiving instance's configuration are in Check. Errors are *DropError.
func Decode(b []byte, src, dst netip.Addr) (*Packet, error) {
	if len(b) < headerLen {
		return nil, drop(DropTruncated, "%d bytes", len(b))
	}
	p := &Packet{
		Version:  b[0] >> 4,
		Type:     b[0] & 0x0f,
		VRID:     b[1],
		Priority: b[2],
		Checksum: binary.BigEndian.Uint16(b[6:]),
	}
	if p.Version != 2 && p.Version != 3 {
		return nil, drop(DropVersion, "version %d", p.Version)
	}
	if p.Type != TypeAdvertisement {
		return nil, drop(DropType, "type %d", p.Type)
	}
	v6 := src.Is6() && !src.Is4In6()
	if p.Version == 2 && v6 {
		return nil, drop(DropVersion, "VRRPv2 over IPv6")
	}
	alen := 4
	if v6 {
		alen = 16
	}
	count := int(b[3])
	want := headerLen + alen*count
	if p.Version == 2 {
		want += authLen
	}
	if len(b) < want {
		return nil, drop(DropTruncated, "%d bytes for %d addresses, want %d", len(b), count, want)
	}
	if len(b) > want {
		return nil, drop(DropLength, "%d bytes for %d addresses, want %d", len(b), count, want)
	}
	var sum uint16
	if p.Version == 3 {
		sum = checksum(b, pseudoSum(src, dst, len(b)))
	} else {
		sum = checksum(b, 0)
	}
	if sum != 0 {
		return nil, drop(DropChecksum, "checksum 0x%04x", p.Checksum)
	}
	switch p.Version {
	case 2:
		p.AuthType = b[4]
		p.Interval = time.Duration(b[5]) * time.Second
		copy(p.Auth[:], b[want-authLen:])
	case 3:
		p.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&maxV3Centi) * 10 * time.Millisecond
	}
	p.Addrs = make([]netip.Addr, count)
	for i := range count {
		a, _ := netip.AddrFromSlice(b[headerLen+i*alen : headerLen+(i+1)*alen])
		p.Addrs[i] = a
	}
	return p, nil
}

// Expect is what a receiving instance requires of an advertisement.
type Expect struct {
	Version  uint8
	VRID     uint8
	AuthType uint8         // v2
	Auth     [authLen]byte // v2, compared when AuthType is AuthPass
	Interval time.Duration // v2 requires equality; v3 learns the master's
	Addrs    []netip.Addr  // the instance's advertised virtual addresses
	// Unicast instances accept only unicast advertisements from Peers;
	// multicast instances only multicast ones with TTL 255.
	Unicast bool
	Peers   []netip.Addr
}

// RxInfo is what the socket says about a received packet.
type RxInfo struct {
	Src, Dst netip.Addr
	TTL      int // IPv4 TTL or IPv6 hop limit; -1 if unknown
}

// Check applies the rules of RFC 3768 §7.1 and RFC 5798 §7.1 that depend on
// the receiving instance to a decoded packet. Errors are *DropError.
//
// As keepalived does, the TTL is not enforced on unicast advertisements
// (unicast peers may be routed), but their source must be a configured peer.
func Check(p *Packet, rx RxInfo, e Expect) error {
	if p.Version != e.Version {
		return drop(DropVersion, "version %d, want %d", p.Version, e.Version)
	}
	if p.VRID != e.VRID {
		return drop(DropVRID, "vrid %d, want %d", p.VRID, e.VRID)
	}
	if rx.Dst.IsMulticast() == e.Unicast {
		return drop(DropDest, "destination %v", rx.Dst)
	}
	if !e.Unicast && rx.TTL != -1 && rx.TTL != TTL {
		return drop(DropTTL, "ttl %d", rx.TTL)
	}
	if e.Unicast && !slices.Contains(e.Peers, rx.Src) {
		return drop(DropPeer, "source %v is not a unicast peer", rx.Src)
	}
	if len(e.Addrs) > 0 && rx.Src.Is4() != e.Addrs[0].Is4() {
		return drop(DropFamily, "source %v", rx.Src)
	}
	if p.Version == 2 {
		if p.AuthType != e.AuthType {
			return drop(DropAuthType, "auth type %d, want %d", p.AuthType, e.AuthType)
		}
		if e.AuthType == AuthPass && subtle.ConstantTimeCompare(p.Auth[:], e.Auth[:]) != 1 {
			return drop(DropAuth, "password mismatch")
		}
		if p.Interval != e.Interval {
			return drop(DropInterval, "interval %v, want %v", p.Interval, e.Interval)
		}
	}
	if !sameAddrs(p.Addrs, e.Addrs) {
		return drop(DropAddrList, "addresses %v, want %v", p.Addrs, e.Addrs)
	}
	return nil
}

// sameAddrs reports whether a and b hold the same set of addresses.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// pseudoSum is the unfolded one's-complement sum of the IPv4 or IPv6
// pseudo-header for VRRPv3 (RFC 5798 §5.2.8).
func pseudoSum(src, dst netip.Addr, length int) uint32 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	if src.Is4() || src.Is4In6() {
		s4, d4 := src.Unmap().As4(), dst.Unmap().As4()
		add(s4[:])
		add(d4[:])
	} else {
		s16, d16 := src.As16(), dst.As16()
		add(s16[:])
		add(d16[:])
	}
	s += uint32(IPProtocol)
	s += uint32(length)
	return s
}

// checksum folds the one's-complement sum of b plus initial into the
// Internet checksum. Over a packet holding a correct checksum it is 0.
func checksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
