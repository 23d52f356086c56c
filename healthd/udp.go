package healthd

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DefaultUDPPayload is what UDP_CHECK sends without a payload: 32 bytes,
// the size of keepalived's filler (whose text differs).
var DefaultUDPPayload = []byte("xlb-healthd UDP_CHECK probe ....")

// ParseHex reads keepalived's hex notation (payload, require_reply):
// blank-separated words, each read two digits to a byte, a lone last digit
// of a word being a byte of its own ("Ab12f 3" is AB 12 0F 03). With
// wildcards, x or X stands for any nibble, which mask marks with 0xf bits.
func ParseHex(s string, wildcards bool) (data, mask []byte, err error) {
	words := strings.Fields(s)
	if len(words) == 0 {
		return nil, nil, errors.New("no hex digits")
	}
	nibble := func(c byte) (v, m byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, 0xf, true
		}
		return 0, 0, false
	}
	for _, w := range words {
		for i := 0; i < len(w); i += 2 {
			v, m, ok := nibble(w[i])
			if !ok {
				return nil, nil, fmt.Errorf("%q is not a hex digit%s", w[i], map[bool]string{true: " or x", false: ""}[wildcards])
			}
			if i+1 < len(w) {
				v2, m2, ok := nibble(w[i+1])
				if !ok {
					return nil, nil, fmt.Errorf("%q is not a hex digit%s", w[i+1], map[bool]string{true: " or x", false: ""}[wildcards])
				}
				v, m = v<<4|v2, m<<4|m2
			}
			data = append(data, v)
			mask = append(mask, m)
		}
	}
	return data, mask, nil
}

// udpChecker is UDP_CHECK, as keepalived: send the payload on a connected
// UDP socket and wait up to connect_timeout. Without require_reply the real
// passes unless an ICMP error arrives (port, host or network unreachable,
// which a connected socket reports as an error); any reply passes at once.
// With require_reply it passes only on a reply whose length is within
// [min_reply_length, max_reply_length] and whose first bytes match the
// require_reply data (the shorter of the two is compared, x nibbles match
// anything).
type udpChecker struct {
	s          spec
	payload    []byte
	reply      []byte
	replyMask  []byte
	maxReadLen int
}

func newUDPChecker(s spec) (*udpChecker, error) {
	u := &udpChecker{s: s, payload: DefaultUDPPayload, maxReadLen: 1}
	if s.Payload != "" {
		p, _, err := ParseHex(s.Payload, false)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		u.payload = p
	}
	if s.ReplyData != "" {
		d, m, err := ParseHex(s.ReplyData, true)
		if err != nil {
			return nil, fmt.Errorf("require_reply: %w", err)
		}
		u.reply, u.replyMask = d, m
	}
	if s.RequireReply {
		// One byte more than the longest reply, so a longer datagram shows
		// as too long rather than cut to fit.
		u.maxReadLen = s.MaxReplyLength + 1
	}
	return u, nil
}

func (u *udpChecker) String() string { return u.s.String() }

func (u *udpChecker) Check(ctx context.Context) (int, error) {
	deadline := u.s.deadline(ctx)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := u.s.dialUDP(ctx)
	if err != nil {
		return -1, fail(classifyDatagram(err), err)
	}
	defer conn.Close()
	defer bound(ctx, conn, deadline)()
	if _, err := conn.Write(u.payload); err != nil {
		return -1, fail(classifyDatagram(err), err)
	}
	buf := make([]byte, u.maxReadLen)
	n, err := conn.Read(buf)
	if err != nil {
		r := classifyDatagram(err)
		switch {
		case r != "timeout":
			return -1, fail(r, err)
		case u.s.RequireReply:
			return -1, fail("no reply", err)
		case errors.Is(ctx.Err(), context.Canceled):
			// Stopped before connect_timeout: not a pass.
			return -1, fail("canceled", ctx.Err())
		}
		return -1, nil // no ICMP error within connect_timeout
	}
	if !u.s.RequireReply {
		return -1, nil
	}
	if n < u.s.MinReplyLength || n > u.s.MaxReplyLength {
		return -1, fail(fmt.Sprintf("reply length %s outside %d-%d", replyLen(n, u.s.MaxReplyLength), u.s.MinReplyLength, u.s.MaxReplyLength), nil)
	}
	for i := range min(n, len(u.reply)) {
		if (buf[i]^u.reply[i])&^u.replyMask[i] != 0 {
			return -1, fail("reply mismatch", fmt.Errorf("byte %d is %02x, want %02x", i, buf[i], u.reply[i]))
		}
	}
	return -1, nil
}

func replyLen(n, max int) string {
	if n > max {
		return fmt.Sprintf("over %d", max)
	}
	return fmt.Sprint(n)
}
