package healthd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsTypes are the query types keepalived's DNS_CHECK knows.
var dnsTypes = map[string]dnsmessage.Type{
	"A":     dnsmessage.TypeA,
	"NS":    dnsmessage.TypeNS,
	"CNAME": dnsmessage.TypeCNAME,
	"SOA":   dnsmessage.TypeSOA,
	"MX":    dnsmessage.TypeMX,
	"TXT":   dnsmessage.TypeTXT,
	"AAAA":  dnsmessage.TypeAAAA,
}

// DNSTypes lists the DNS_CHECK query types, for messages.
const DNSTypes = "A, NS, CNAME, SOA, MX, TXT or AAAA"

// ParseDNSName checks a DNS_CHECK name as keepalived does (no empty label:
// "a..b" and ".a" are refused; "" and "." are the root) and returns it
// fully qualified.
func ParseDNSName(name string) (dnsmessage.Name, error) {
	if name == "" || name == "." {
		return dnsmessage.MustNewName("."), nil
	}
	if strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return dnsmessage.Name{}, fmt.Errorf("name %q has an empty label", name)
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return dnsmessage.Name{}, fmt.Errorf("name %q has blanks", name)
	}
	fq := name
	if !strings.HasSuffix(fq, ".") {
		fq += "."
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(fq, "."), ".") {
		if len(l) > 63 {
			return dnsmessage.Name{}, fmt.Errorf("name %q has a label longer than 63 bytes", name)
		}
	}
	n, err := dnsmessage.NewName(fq)
	if err != nil || len(fq) > 254 {
		return dnsmessage.Name{}, fmt.Errorf("name %q is longer than 253 bytes", name)
	}
	return n, nil
}

// dnsChecker is DNS_CHECK: one query over UDP (recursion desired, class IN)
// to the target. keepalived's rule, which this follows: the real passes on
// the first datagram that carries the query's id, has QR set and RCODE
// NOERROR. The answer count is not looked at (keepalived's check_dns.c
// does not either), so an empty NOERROR answer passes. Datagrams with
// another id, or that are queries, are ignored and the wait goes on; any
// other RCODE fails at once; nothing within connect_timeout is a timeout.
type dnsChecker struct {
	s     spec
	qtype dnsmessage.Type
	name  dnsmessage.Name
}

func newDNSChecker(s spec) (*dnsChecker, error) {
	t, ok := dnsTypes[s.DNSType]
	if !ok {
		return nil, fmt.Errorf("DNS type %q: want %s", s.DNSType, DNSTypes)
	}
	n, err := ParseDNSName(s.DNSName)
	if err != nil {
		return nil, err
	}
	return &dnsChecker{s: s, qtype: t, name: n}, nil
}

func (d *dnsChecker) String() string { return d.s.String() }

// maxDatagrams bounds the datagrams a datagram check reads in one probe,
// on top of connect_timeout.
const maxDatagrams = 64

func (d *dnsChecker) Check(ctx context.Context) (int, error) {
	deadline := d.s.deadline(ctx)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	id := uint16(rand.Uint32())
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: d.name, Type: d.qtype, Class: dnsmessage.ClassINET}},
	}
	query, err := q.Pack()
	if err != nil {
		return -1, fail("cannot build the query", err)
	}
	conn, err := d.s.dialUDP(ctx)
	if err != nil {
		return -1, fail(classifyDatagram(err), err)
	}
	defer conn.Close()
	defer bound(ctx, conn, deadline)()
	if _, err := conn.Write(query); err != nil {
		return -1, fail(classifyDatagram(err), err)
	}
	buf := make([]byte, 1500)
	ignored := 0
	for range maxDatagrams {
		n, err := conn.Read(buf)
		if err != nil {
			r := classifyDatagram(err)
			if r == "timeout" && ignored > 0 {
				r = fmt.Sprintf("timeout (%d replies ignored: another id or not a response)", ignored)
			}
			return -1, fail(r, err)
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			ignored++
			continue
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return -1, fail("rcode "+rcodeName(h.RCode), nil)
		}
		return -1, nil
	}
	return -1, fail(fmt.Sprintf("%d replies ignored: another id or not a response", ignored), errors.New("too many datagrams"))
}

// rcodeName is the mnemonic of an RCODE, as dig prints it.
func rcodeName(r dnsmessage.RCode) string {
	switch r {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return strconv.Itoa(int(r))
}
