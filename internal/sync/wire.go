package sync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/xlb/xlb/loader"
)

// Wire constants; doc.go draws the layout.
const (
	// Version is the protocol version this package speaks.
	Version = 1
	// MaxMessage is the largest datagram sent or accepted: it fits an
	// Ethernet MTU of 1500 under IPv6 and UDP headers (1452).
	MaxMessage = 1400

	magic     = 0x58 // 'X'
	headerLen = 32
	macLen    = sha256.Size
	// maxEntries bounds the entries a message may carry: its entry
	// region divided by the smallest entry.
	maxEntries = (MaxMessage - headerLen - macLen) / deleteLen4
)

// msgType says what a message is.
type msgType uint8

const (
	msgUpdate    msgType = 1 // master: changes (none: a heartbeat)
	msgBulkStart msgType = 2 // master: a bulk transfer begins
	msgBulk      msgType = 3 // master: entries of a bulk transfer
	msgBulkEnd   msgType = 4 // master: a bulk transfer is complete
	msgResync    msgType = 5 // backup: please send a bulk transfer
)

func (t msgType) String() string {
	switch t {
	case msgUpdate:
		return "update"
	case msgBulkStart:
		return "bulk_start"
	case msgBulk:
		return "bulk"
	case msgBulkEnd:
		return "bulk_end"
	case msgResync:
		return "resync"
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// Header flags.
const (
	flagMAC   = 1 << 0 // an HMAC-SHA256 follows the message
	flagReset = 1 << 1 // bulk start: the master dropped changes; the receiver's table is stale
)

// header is a message's fixed part.
type header struct {
	Type  msgType
	Flags uint8
	// Epoch names the sender's session: a master's random session id, or
	// a backup's random instance id on resync requests.
	Epoch uint64
	// Seq numbers the sender's messages of this epoch from 1.
	Seq uint64
	// Transfer is the bulk transfer a bulk message belongs to; on a
	// resync request, the transfer the backup was receiving (0: none).
	Transfer uint32
	// Total is, on a bulk end, the number of entries the transfer sent.
	Total uint32
}

// entryKind says what an entry carries.
type entryKind uint8

const (
	kindConn     entryKind = 1 // a connection, added or changed
	kindTemplate entryKind = 2 // a persistence template, added or refreshed
	kindDelete   entryKind = 3 // a connection the master expired
	kindDropTmpl entryKind = 4 // a persistence template the master expired
)

// entry is one table change.
type entry struct {
	Kind     entryKind
	Conn     loader.Conn     // kindConn
	Template loader.Template // kindTemplate; kindDropTmpl (Service and Client)
	Flow     loader.FlowID   // kindDelete
}

// message is a decoded datagram.
type message struct {
	header
	Entries []entry
}

// Entry sizes by kind and address family.
const (
	connLen4     = 10 + 3*6
	connLen6     = 10 + 3*18
	templateLen4 = 10 + 6 + 4 + 6
	templateLen6 = 10 + 18 + 16 + 18
	deleteLen4   = 4 + 2*6
	deleteLen6   = 4 + 2*18
	dropLen4     = 4 + 6 + 4
	dropLen6     = 4 + 18 + 16
)

// Connection states on the wire (the dataplane's enum conn_state).
var stateCodes = map[string]uint8{"SYN_RECV": 1, "ESTABLISHED": 2, "FIN_WAIT": 3, "CLOSE": 4, "UDP": 5}

var stateNames = func() map[uint8]string {
	m := make(map[uint8]string, len(stateCodes))
	for n, c := range stateCodes {
		m[c] = n
	}
	return m
}()

func famLen(a netip.Addr, l4, l6 int) int {
	if a.Is4() {
		return l4
	}
	return l6
}

// size is the entry's encoded length, or 0 if it cannot be encoded.
func (e *entry) size() int {
	switch e.Kind {
	case kindConn:
		c := &e.Conn
		a := c.Client.Addr()
		if !a.IsValid() || a.Is4() != c.VIP.Addr().Is4() || a.Is4() != c.Real.Addr().Is4() || stateCodes[c.State] == 0 {
			return 0
		}
		return famLen(a, connLen4, connLen6)
	case kindTemplate:
		t := &e.Template
		a := t.Service.Addr
		if !a.IsValid() || a.Is4() != t.Client.Is4() || a.Is4() != t.Real.Addr().Is4() {
			return 0
		}
		return famLen(a, templateLen4, templateLen6)
	case kindDelete:
		a := e.Flow.Client.Addr()
		if !a.IsValid() || a.Is4() != e.Flow.VIP.Addr().Is4() {
			return 0
		}
		return famLen(a, deleteLen4, deleteLen6)
	case kindDropTmpl:
		t := &e.Template
		a := t.Service.Addr
		if !a.IsValid() || a.Is4() != t.Client.Is4() {
			return 0
		}
		return famLen(a, dropLen4, dropLen6)
	}
	return 0
}

// maxBody is the room for entries in a message.
const maxBody = MaxMessage - headerLen - macLen

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return 4
	}
	return 6
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	return binary.BigEndian.AppendUint16(appendAddr(b, ap.Addr()), ap.Port())
}

func idleSeconds(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(min(d/time.Second, math.MaxUint32))
}

// appendEntry encodes e; e.size() must be non-zero.
func appendEntry(b []byte, e *entry) []byte {
	n := e.size()
	switch e.Kind {
	case kindConn:
		c := &e.Conn
		b = append(b, byte(kindConn), byte(n), family(c.Client.Addr()), byte(c.Proto), stateCodes[c.State], 0)
		b = binary.BigEndian.AppendUint32(b, idleSeconds(c.Idle))
		b = appendAddrPort(b, c.Client)
		b = appendAddrPort(b, c.VIP)
		b = appendAddrPort(b, c.Real)
	case kindTemplate:
		t := &e.Template
		b = append(b, byte(kindTemplate), byte(n), family(t.Service.Addr), byte(t.Service.Proto), 0, 0)
		b = binary.BigEndian.AppendUint32(b, idleSeconds(t.Idle))
		b = appendAddrPort(b, netip.AddrPortFrom(t.Service.Addr, t.Service.Port))
		b = appendAddr(b, t.Client)
		b = appendAddrPort(b, t.Real)
	case kindDelete:
		f := &e.Flow
		b = append(b, byte(kindDelete), byte(n), family(f.Client.Addr()), byte(f.Proto))
		b = appendAddrPort(b, f.Client)
		b = appendAddrPort(b, f.VIP)
	case kindDropTmpl:
		t := &e.Template
		b = append(b, byte(kindDropTmpl), byte(n), family(t.Service.Addr), byte(t.Service.Proto))
		b = appendAddrPort(b, netip.AddrPortFrom(t.Service.Addr, t.Service.Port))
		b = appendAddr(b, t.Client)
	}
	return b
}

// encode builds a datagram of h and entries, authenticated with key
// when key is non-empty. The entries must fit (their sizes sum to at
// most maxBody) and be encodable.
func encode(buf []byte, h header, entries []entry, key []byte) ([]byte, error) {
	b := buf[:0]
	h.Flags &^= flagMAC
	if len(key) > 0 {
		h.Flags |= flagMAC
	}
	b = append(b, magic, Version, byte(h.Type), h.Flags, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(entries)))
	b = binary.BigEndian.AppendUint64(b, h.Epoch)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint32(b, h.Transfer)
	b = binary.BigEndian.AppendUint32(b, h.Total)
	for i := range entries {
		if entries[i].size() == 0 {
			return nil, fmt.Errorf("entry %d (kind %d) cannot be encoded", i, entries[i].Kind)
		}
		b = appendEntry(b, &entries[i])
	}
	if len(b) > MaxMessage-macLen {
		return nil, fmt.Errorf("message of %d bytes exceeds %d", len(b), MaxMessage-macLen)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	if len(key) > 0 {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		b = m.Sum(b)
	}
	return b, nil
}

// decode parses and authenticates a datagram. Its errors wrap one of
// ErrBadFormat, ErrWrongVersion or ErrBadMAC. Replay checks are the
// receiver's.
func decode(b []byte, key []byte) (*message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: oversized: %d bytes", ErrBadFormat, len(b))
	}
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: truncated header: %d bytes", ErrBadFormat, len(b))
	}
	if b[0] != magic {
		return nil, fmt.Errorf("%w: not a sync message", ErrBadFormat)
	}
	if b[1] != Version {
		return nil, fmt.Errorf("%w: version %d", ErrWrongVersion, b[1])
	}
	flags := b[3]
	n := int(binary.BigEndian.Uint16(b[4:]))
	want := n
	if flags&flagMAC != 0 {
		want += macLen
	}
	if n < headerLen || want != len(b) {
		return nil, fmt.Errorf("%w: length field %d, datagram %d bytes", ErrBadFormat, n, len(b))
	}
	switch {
	case len(key) > 0 && flags&flagMAC == 0:
		return nil, fmt.Errorf("%w: message not authenticated", ErrBadMAC)
	case len(key) == 0 && flags&flagMAC != 0:
		return nil, fmt.Errorf("%w: authenticated message but no key configured", ErrBadMAC)
	case len(key) > 0:
		m := hmac.New(sha256.New, key)
		m.Write(b[:n])
		if !hmac.Equal(m.Sum(nil), b[n:]) {
			return nil, fmt.Errorf("%w: wrong MAC", ErrBadMAC)
		}
	}
	msg := &message{header: header{
		Type:     msgType(b[2]),
		Flags:    flags,
		Epoch:    binary.BigEndian.Uint64(b[8:]),
		Seq:      binary.BigEndian.Uint64(b[16:]),
		Transfer: binary.BigEndian.Uint32(b[24:]),
		Total:    binary.BigEndian.Uint32(b[28:]),
	}}
	if msg.Type < msgUpdate || msg.Type > msgResync {
		return nil, fmt.Errorf("%w: unknown message type %d", ErrBadFormat, b[2])
	}
	if msg.Epoch == 0 || msg.Seq == 0 {
		return nil, fmt.Errorf("%w: zero epoch or sequence", ErrBadFormat)
	}
	count := int(binary.BigEndian.Uint16(b[6:]))
	if count > maxEntries {
		return nil, fmt.Errorf("%w: %d entries", ErrBadFormat, count)
	}
	if count > 0 {
		if msg.Type != msgUpdate && msg.Type != msgBulk {
			return nil, fmt.Errorf("%w: %s message with entries", ErrBadFormat, msg.Type)
		}
		msg.Entries = make([]entry, 0, count)
	}
	body := b[headerLen:n]
	for i := range count {
		e, used, err := decodeEntry(body)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrBadFormat, i, err)
		}
		msg.Entries = append(msg.Entries, e)
		body = body[used:]
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last entry", ErrBadFormat, len(body))
	}
	return msg, nil
}

// reader takes addresses off an entry whose length was checked.
type reader struct {
	b  []byte
	v6 bool
}

func (r *reader) addr() netip.Addr {
	if r.v6 {
		a := netip.AddrFrom16([16]byte(r.b[:16]))
		r.b = r.b[16:]
		return a
	}
	a := netip.AddrFrom4([4]byte(r.b[:4]))
	r.b = r.b[4:]
	return a
}

func (r *reader) addrPort() netip.AddrPort {
	a := r.addr()
	p := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return netip.AddrPortFrom(a, p)
}

func decodeEntry(b []byte) (entry, int, error) {
	var e entry
	if len(b) < 4 {
		return e, 0, fmt.Errorf("truncated: %d bytes", len(b))
	}
	kind, n, fam, proto := entryKind(b[0]), int(b[1]), b[2], loader.Proto(b[3])
	if fam != 4 && fam != 6 {
		return e, 0, fmt.Errorf("address family %d", fam)
	}
	if proto != loader.TCP && proto != loader.UDP {
		return e, 0, fmt.Errorf("protocol %d", proto)
	}
	v6 := fam == 6
	var want int
	switch kind {
	case kindConn:
		want = connLen4
		if v6 {
			want = connLen6
		}
	case kindTemplate:
		want = templateLen4
		if v6 {
			want = templateLen6
		}
	case kindDelete:
		want = deleteLen4
		if v6 {
			want = deleteLen6
		}
	case kindDropTmpl:
		want = dropLen4
		if v6 {
			want = dropLen6
		}
	default:
		return e, 0, fmt.Errorf("kind %d", kind)
	}
	if n != want {
		return e, 0, fmt.Errorf("kind %d family %d of length %d, want %d", kind, fam, n, want)
	}
	if len(b) < n {
		return e, 0, fmt.Errorf("truncated: %d of %d bytes", len(b), n)
	}
	e.Kind = kind
	switch kind {
	case kindConn:
		state, ok := stateNames[b[4]]
		if !ok {
			return e, 0, fmt.Errorf("connection state %d", b[4])
		}
		idle := time.Duration(binary.BigEndian.Uint32(b[6:])) * time.Second
		r := reader{b: b[10:n], v6: v6}
		e.Conn = loader.Conn{Proto: proto, Client: r.addrPort(), VIP: r.addrPort(), Real: r.addrPort(),
			State: state, Active: state == "ESTABLISHED", Idle: idle}
	case kindTemplate:
		idle := time.Duration(binary.BigEndian.Uint32(b[6:])) * time.Second
		r := reader{b: b[10:n], v6: v6}
		vip := r.addrPort()
		e.Template = loader.Template{
			Service: loader.ServiceKey{Addr: vip.Addr(), Port: vip.Port(), Proto: proto},
			Client:  r.addr(), Real: r.addrPort(), Idle: idle,
		}
	case kindDelete:
		r := reader{b: b[4:n], v6: v6}
		e.Flow = loader.FlowID{Proto: proto, Client: r.addrPort(), VIP: r.addrPort()}
	case kindDropTmpl:
		r := reader{b: b[4:n], v6: v6}
		vip := r.addrPort()
		e.Template = loader.Template{Service: loader.ServiceKey{Addr: vip.Addr(), Port: vip.Port(), Proto: proto}, Client: r.addr()}
	}
	return e, n, nil
}
