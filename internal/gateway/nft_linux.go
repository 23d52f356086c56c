package gateway

import (
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of what xlb owns in nftables. Nothing outside table inet xlb is
// ever touched.
const (
	tableName = "xlb"
	chainName = "postrouting"
	// setExcluded holds the IPv4 sources that are never masqueraded (the
	// VIPs); setExcluded6 the IPv6 ones, and exists only when there are
	// any.
	setExcluded  = "excluded"
	setExcluded6 = "excluded6"
)

func xlbTable() *nftables.Table {
	return &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
}

// queueDelete queues the removal of table inet xlb, present or not: adding
// a table that exists is a no-op, so the pair never fails on ENOENT.
func queueDelete(c *nftables.Conn) {
	t := xlbTable()
	c.AddTable(t)
	c.DelTable(t)
}

// queueTable queues the whole table: the caller has queued the deletion
// of the old one in the same batch, so the kernel swaps them in one
// transaction.
func queueTable(c *nftables.Conn, rules []Rule, ex4, ex6 []netip.Addr) error {
	t := c.AddTable(xlbTable())
	// Set IDs only need to be unique within the batch. Setting them here
	// keeps nftables.AddSet off its unsynchronised package-level counter.
	set4 := &nftables.Set{Table: t, Name: setExcluded, ID: 1, KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian}
	if err := c.AddSet(set4, elements(ex4)); err != nil {
		return err
	}
	var set6 *nftables.Set
	if len(ex6) > 0 {
		set6 = &nftables.Set{Table: t, Name: setExcluded6, ID: 2, KeyType: nftables.TypeIP6Addr, KeyByteOrder: binaryutil.BigEndian}
		if err := c.AddSet(set6, elements(ex6)); err != nil {
			return err
		}
	}
	ch := c.AddChain(&nftables.Chain{
		Name:     chainName,
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: excludeExprs(unix.NFPROTO_IPV4, set4)})
	if set6 != nil {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: excludeExprs(unix.NFPROTO_IPV6, set6)})
	}
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: masqueradeExprs(r)})
	}
	return nil
}

func elements(addrs []netip.Addr) []nftables.SetElement {
	els := make([]nftables.SetElement, len(addrs))
	for i, a := range addrs {
		els[i] = nftables.SetElement{Key: a.AsSlice()}
	}
	return els
}

// excludeExprs is `ip saddr @excluded return` (or its ip6 twin).
func excludeExprs(nfproto byte, set *nftables.Set) []expr.Any {
	off, n := saddrField(nfproto)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}
}

// masqueradeExprs is `oifname "IF" [ip|ip6 saddr PREFIX] masquerade`, in
// the shape nft itself generates (so that `nft list` prints it back that
// way): a prefix on a byte boundary is compared on its leading bytes,
// any other is masked and compared whole.
func masqueradeExprs(r Rule) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, r.OutInterface)
	es := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
	}
	if r.Source.IsValid() {
		nfproto := byte(unix.NFPROTO_IPV4)
		if r.Source.Addr().Is6() {
			nfproto = unix.NFPROTO_IPV6
		}
		es = append(es,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		)
		off, size := saddrField(nfproto)
		addr := r.Source.Addr().AsSlice()
		if bits := r.Source.Bits(); bits > 0 && bits%8 == 0 {
			n := uint32(bits / 8)
			es = append(es,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:n]},
			)
		} else {
			mask := net.CIDRMask(bits, int(size)*8)
			es = append(es,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
			)
		}
	}
	return append(es, &expr.Masq{})
}

// saddrField is the source address's offset and length in the network
// header of the family.
func saddrField(nfproto byte) (offset, length uint32) {
	if nfproto == unix.NFPROTO_IPV6 {
		return 8, 16
	}
	return 12, 4
}
