package loader

import (
	"net/netip"
	"strconv"
	"unsafe"
)

// Address families as the dataplane stores them.
const (
	afInet  = 2
	afInet6 = 10
)

// Proto is an IP protocol number.
type Proto uint8

// Protocols the dataplane balances.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// addrBytes lays an address out as the dataplane's union addr: IPv4 in
// the first four bytes, the rest zero.
func addrBytes(a netip.Addr) (b [16]byte) {
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		copy(b[:], v[:])
		return b
	}
	return a.As16()
}

func addrFrom(b [16]byte, family uint8) netip.Addr {
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func family(a netip.Addr) uint8 {
	if a.Is4() || a.Is4In6() {
		return afInet
	}
	return afInet6
}

func serviceKeyOf(k ServiceKey) xlbServiceKey {
	var sk xlbServiceKey
	sk.Vip.Bytes = addrBytes(k.Addr)
	sk.Port = k.Port
	sk.Proto = uint8(k.Proto)
	sk.Family = family(k.Addr)
	return sk
}

func serviceKeyFrom(sk xlbServiceKey) ServiceKey {
	return ServiceKey{
		Addr:  addrFrom(sk.Vip.Bytes, sk.Family),
		Port:  sk.Port,
		Proto: Proto(sk.Proto),
	}
}

func realKeyOf(a netip.AddrPort, p Proto) xlbRealKey {
	var rk xlbRealKey
	rk.Addr.Bytes = addrBytes(a.Addr())
	rk.Port = a.Port()
	rk.Proto = uint8(p)
	rk.Family = family(a.Addr())
	return rk
}

func flowKeyFrom(fk xlbFlowKey) (client, vip netip.AddrPort, proto Proto) {
	client = netip.AddrPortFrom(addrFrom(fk.Client.Bytes, fk.Family), fk.ClientPort)
	vip = netip.AddrPortFrom(addrFrom(fk.Vip.Bytes, fk.Family), fk.VipPort)
	return client, vip, Proto(fk.Proto)
}

func flowKeyOf(client, vip netip.AddrPort, proto Proto) xlbFlowKey {
	var fk xlbFlowKey
	fk.Client.Bytes = addrBytes(client.Addr())
	fk.Vip.Bytes = addrBytes(vip.Addr())
	fk.ClientPort = client.Port()
	fk.VipPort = vip.Port()
	fk.Proto = uint8(proto)
	fk.Family = family(client.Addr())
	return fk
}

// Compile-time checks that the generated structs have the sizes the C
// side asserts.
var (
	_ [20]byte = [unsafe.Sizeof(xlbServiceKey{})]byte{}
	_ [20]byte = [unsafe.Sizeof(xlbService{})]byte{}
	_ [28]byte = [unsafe.Sizeof(xlbReal{})]byte{}
	_ [40]byte = [unsafe.Sizeof(xlbFlowKey{})]byte{}
	_ [16]byte = [unsafe.Sizeof(xlbConn{})]byte{}
	_ [20]byte = [unsafe.Sizeof(xlbPersistKey{})]byte{}
)
