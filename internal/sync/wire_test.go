package sync

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/loader"
)

var (
	vip4    = netip.MustParseAddrPort("203.0.113.10:80")
	real4   = netip.MustParseAddrPort("192.0.2.100:8080")
	client4 = netip.MustParseAddrPort("198.51.100.7:40000")
	vip6    = netip.MustParseAddrPort("[2001:db8::10]:443")
	real6   = netip.MustParseAddrPort("[2001:db8:1::100]:8443")
	client6 = netip.MustParseAddrPort("[2001:db8:2::7]:50000")
	testKey = []byte("correct horse battery staple")
)

func conn4(state string, idle time.Duration) entry {
	return entry{Kind: kindConn, Conn: loader.Conn{Proto: loader.TCP, Client: client4, VIP: vip4, Real: real4,
		State: state, Active: state == "ESTABLISHED", Idle: idle}}
}

// sampleEntries has one entry of every kind and family.
func sampleEntries() []entry {
	return []entry{
		conn4("ESTABLISHED", 42*time.Second),
		{Kind: kindConn, Conn: loader.Conn{Proto: loader.UDP, Client: client6, VIP: vip6, Real: real6, State: "UDP", Idle: 7 * time.Second}},
		{Kind: kindTemplate, Template: loader.Template{Service: loader.ServiceKey{Addr: vip4.Addr(), Port: 80, Proto: loader.TCP},
			Client: netip.MustParseAddr("198.51.100.0"), Real: real4, Idle: 3 * time.Second}},
		{Kind: kindTemplate, Template: loader.Template{Service: loader.ServiceKey{Addr: vip6.Addr(), Port: 443, Proto: loader.TCP},
			Client: client6.Addr(), Real: real6}},
		{Kind: kindDelete, Flow: loader.FlowID{Proto: loader.TCP, Client: client4, VIP: vip4}},
		{Kind: kindDelete, Flow: loader.FlowID{Proto: loader.UDP, Client: client6, VIP: vip6}},
		{Kind: kindDropTmpl, Template: loader.Template{Service: loader.ServiceKey{Addr: vip4.Addr(), Port: 80, Proto: loader.TCP},
			Client: netip.MustParseAddr("198.51.100.0")}},
		{Kind: kindDropTmpl, Template: loader.Template{Service: loader.ServiceKey{Addr: vip6.Addr(), Port: 443, Proto: loader.UDP},
			Client: client6.Addr()}},
	}
}

func mustEncode(t testing.TB, h header, es []entry, key []byte) []byte {
	t.Helper()
	b, err := encode(nil, h, es, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWireRoundTrip(t *testing.T) {
	states := []string{"SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE", "UDP"}
	for _, key := range [][]byte{nil, testKey} {
		for _, typ := range []msgType{msgUpdate, msgBulkStart, msgBulk, msgBulkEnd, msgResync} {
			h := header{Type: typ, Epoch: 0x0123456789abcdef, Seq: 1<<40 + 5, Transfer: 7, Total: 99}
			var es []entry
			if typ == msgUpdate || typ == msgBulk {
				es = sampleEntries()
				for _, st := range states {
					es = append(es, conn4(st, time.Hour))
				}
			}
			b := mustEncode(t, h, es, key)
			m, err := decode(b, key)
			if err != nil {
				t.Fatalf("%s key=%v: %v", typ, key != nil, err)
			}
			h.Flags = 0
			if key != nil {
				h.Flags = flagMAC
			}
			if m.header != h {
				t.Errorf("%s: header %+v, want %+v", typ, m.header, h)
			}
			if !reflect.DeepEqual(m.Entries, es) {
				t.Errorf("%s: entries\n%+v\nwant\n%+v", typ, m.Entries, es)
			}
		}
	}
}

// TestWireLayout pins the bytes of a message against the table in
// doc.go, written out by hand.
func TestWireLayout(t *testing.T) {
	es := []entry{
		conn4("ESTABLISHED", 300*time.Second),
		{Kind: kindTemplate, Template: loader.Template{Service: loader.ServiceKey{Addr: vip4.Addr(), Port: 80, Proto: loader.TCP},
			Client: client4.Addr(), Real: real4, Idle: 2 * time.Second}},
		{Kind: kindDelete, Flow: loader.FlowID{Proto: loader.UDP, Client: client4, VIP: vip4}},
	}
	got := mustEncode(t, header{Type: msgUpdate, Epoch: 0x1122334455667788, Seq: 9}, es, nil)
	want := strings.Join([]string{
		"58 01 01 00 0066 0003 1122334455667788 0000000000000009 00000000 00000000", // header, 102 bytes in all
		"01 1c 04 06 02 00 0000012c c6336407 9c40 cb00710a 0050 c0000264 1f90",      // connection
		"02 1a 04 06 0000 00000002 cb00710a 0050 c6336407 c0000264 1f90",            // template
		"03 10 04 11 c6336407 9c40 cb00710a 0050",                                   // deletion
	}, "")
	w, err := hex.DecodeString(strings.ReplaceAll(want, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, w) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, w)
	}
	if len(got) != headerLen+connLen4+templateLen4+deleteLen4 {
		t.Errorf("length %d", len(got))
	}
	mac := mustEncode(t, header{Type: msgUpdate, Epoch: 0x1122334455667788, Seq: 9}, es, testKey)
	if len(mac) != len(got)+macLen || mac[3] != flagMAC || !bytes.Equal(mac[4:6], got[4:6]) {
		t.Errorf("authenticated message: length %d, flags %x, length field %x", len(mac), mac[3], mac[4:6])
	}
}

func TestWireBatchFitsMTU(t *testing.T) {
	// As many IPv6 connections (the largest entry) as the body holds.
	e := sampleEntries()[1]
	n := maxBody / e.size()
	es := make([]entry, n)
	for i := range es {
		es[i] = e
	}
	b := mustEncode(t, header{Type: msgBulk, Epoch: 1, Seq: 1}, es, testKey)
	if len(b) > MaxMessage || MaxMessage+48 > 1500 {
		t.Fatalf("%d entries make %d bytes; max %d", n, len(b), MaxMessage)
	}
	if _, err := decode(b, testKey); err != nil {
		t.Fatal(err)
	}
	if _, err := encode(nil, header{Type: msgBulk, Epoch: 1, Seq: 1}, append(es, e), testKey); err == nil {
		t.Error("encoded a message beyond MaxMessage")
	}
	if _, err := encode(nil, header{Type: msgUpdate, Epoch: 1, Seq: 1},
		[]entry{{Kind: kindConn, Conn: loader.Conn{Client: client4, VIP: vip6, Real: real4, State: "ESTABLISHED"}}}, nil); err == nil {
		t.Error("encoded a connection mixing address families")
	}
}

func TestWireRejections(t *testing.T) {
	h := header{Type: msgUpdate, Epoch: 5, Seq: 6}
	good := mustEncode(t, h, sampleEntries(), nil)
	goodMAC := mustEncode(t, h, sampleEntries(), testKey)
	mod := func(b []byte, fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), b...)) }
	set := func(off int, v ...byte) func([]byte) []byte {
		return func(b []byte) []byte { copy(b[off:], v); return b }
	}
	for _, tc := range []struct {
		name string
		in   []byte
		key  []byte
		want error
	}{
		{"oversized", make([]byte, MaxMessage+1), nil, ErrBadFormat},
		{"truncated_header", good[:headerLen-1], nil, ErrBadFormat},
		{"truncated_entries", good[:len(good)-3], nil, ErrBadFormat},
		{"trailing_bytes", append(append([]byte(nil), good...), 0), nil, ErrBadFormat},
		{"not_sync", mod(good, set(0, 'Y')), nil, ErrBadFormat},
		{"wrong_version", mod(good, set(1, 2)), nil, ErrWrongVersion},
		{"unknown_type", mod(good, set(2, 9)), nil, ErrBadFormat},
		{"zero_epoch", mod(good, set(8, 0, 0, 0, 0, 0, 0, 0, 0)), nil, ErrBadFormat},
		{"count_too_high", mod(good, set(6, 0, 7)), nil, ErrBadFormat},
		{"count_too_low", mod(good, set(6, 0, 5)), nil, ErrBadFormat},
		{"entry_bad_family", mod(good, set(headerLen+2, 5)), nil, ErrBadFormat},
		{"entry_bad_proto", mod(good, set(headerLen+3, 1)), nil, ErrBadFormat},
		{"entry_bad_state", mod(good, set(headerLen+4, 9)), nil, ErrBadFormat},
		{"entry_bad_length", mod(good, set(headerLen+1, connLen6)), nil, ErrBadFormat},
		{"entry_bad_kind", mod(good, set(headerLen, 7)), nil, ErrBadFormat},
		{"entries_on_bulk_end", mod(good, set(2, byte(msgBulkEnd))), nil, ErrBadFormat},
		{"mac_missing", good, testKey, ErrBadMAC},
		{"mac_wrong_key", goodMAC, []byte("another key"), ErrBadMAC},
		{"mac_without_key", goodMAC, nil, ErrBadMAC},
		{"mac_corrupted_entry", mod(goodMAC, func(b []byte) []byte { b[headerLen+12] ^= 1; return b }), testKey, ErrBadMAC},
		{"mac_corrupted_seq", mod(goodMAC, func(b []byte) []byte { b[23]++; return b }), testKey, ErrBadMAC},
		{"mac_truncated", goodMAC[:len(goodMAC)-1], testKey, ErrBadFormat},
		{"mac_flag_stripped", mod(goodMAC, func(b []byte) []byte { b[3] = 0; return b[:len(b)-macLen] }), testKey, ErrBadMAC},
		{"mac_wrong_version", mod(goodMAC, set(1, 0)), testKey, ErrWrongVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.in, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := decode(goodMAC, testKey); err != nil {
		t.Fatalf("the unmodified message: %v", err)
	}
}

func TestWindow(t *testing.T) {
	var w window
	step := func(seq uint64, ok, gap bool) {
		t.Helper()
		gotOK, gotGap := w.check(seq)
		if gotOK != ok || gotGap != gap {
			t.Fatalf("seq %d: ok %v gap %v, want %v %v", seq, gotOK, gotGap, ok, gap)
		}
		if ok {
			w.accept(seq)
		}
	}
	step(10, true, false) // the first number seen starts the window
	step(11, true, false)
	step(11, false, false) // replay
	step(14, true, true)   // 12, 13 missing
	step(12, true, false)  // late, inside the window
	step(12, false, false) // and only once
	step(14+windowSize-1, true, true)
	step(13, false, false) // fell out of the window
	step(15, true, false)
	step(15, false, false)
	step(1000, true, true)
	step(1000-windowSize, false, false)
	step(999, true, false)
}

func FuzzDecode(f *testing.F) {
	f.Add(mustEncode(f, header{Type: msgUpdate, Epoch: 1, Seq: 1}, sampleEntries(), nil))
	f.Add(mustEncode(f, header{Type: msgBulkEnd, Epoch: 1, Seq: 2, Transfer: 3, Total: 4}, nil, nil))
	f.Add(mustEncode(f, header{Type: msgBulk, Epoch: 1, Seq: 1}, sampleEntries(), testKey))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, key := range [][]byte{nil, testKey} {
			m, err := decode(b, key)
			if err != nil {
				continue
			}
			// What decodes re-encodes to a message that decodes the same.
			again, err := encode(nil, m.header, m.Entries, key)
			if err != nil {
				t.Fatalf("decoded message does not re-encode: %v", err)
			}
			m2, err := decode(again, key)
			if err != nil {
				t.Fatalf("re-encoded message does not decode: %v", err)
			}
			if m2.header.Type != m.header.Type || m2.Epoch != m.Epoch || m2.Seq != m.Seq || !reflect.DeepEqual(m2.Entries, m.Entries) {
				t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
			}
			if binary.BigEndian.Uint16(again[4:]) > MaxMessage {
				t.Fatal("length beyond MaxMessage")
			}
		}
	})
}
