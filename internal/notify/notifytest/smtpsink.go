// Package notifytest holds test helpers for code that sends notifications: a
// tiny SMTP server on 127.0.0.1 that keeps the mail it receives, so tests can
// check alerts without any mail leaving the machine.
package notifytest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one mail the sink accepted.
type Message struct {
	Helo string
	From string
	To   []string
	// Data is the message as sent after DATA, CRLF turned into LF and
	// dot-stuffing undone.
	Data string
}

// Subject returns the Subject header of the message.
func (m Message) Subject() string {
	for l := range strings.SplitSeq(m.Data, "\n") {
		if l == "" {
			break
		}
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			return v
		}
	}
	return ""
}

// Body returns what follows the header.
func (m Message) Body() string {
	_, body, _ := strings.Cut(m.Data, "\n\n")
	return body
}

// SinkOptions change how the sink behaves.
type SinkOptions struct {
	// Stall accepts connections but never greets, to exercise timeouts.
	Stall bool
	// RejectRcpt answers 550 to RCPT TO for this address.
	RejectRcpt string
}

// SMTPSink is a minimal SMTP server for tests.
type SMTPSink struct {
	opts SinkOptions
	ln   net.Listener
	msgs chan Message
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartSMTPSink listens on 127.0.0.1 and serves until the test ends.
func StartSMTPSink(t testing.TB, opts SinkOptions) *SMTPSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp sink: %v", err)
	}
	s := &SMTPSink{opts: opts, ln: ln, msgs: make(chan Message, 1000), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// Addr is the sink's host:port.
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// Messages delivers each accepted mail.
func (s *SMTPSink) Messages() <-chan Message { return s.msgs }

// Wait returns the next message or fails the test after timeout.
func (s *SMTPSink) Wait(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("smtp sink: no message within %v", timeout)
		return Message{}
	}
}

func (s *SMTPSink) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SMTPSink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.session(c)
		}()
	}
}

func (s *SMTPSink) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if s.opts.Stall {
		_, _ = r.ReadByte() // until the client gives up
		return
	}
	reply := func(line string) bool {
		_, err := c.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !reply("220 sink.test ESMTP") {
		return
	}
	var msg Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			msg.Helo = arg
			reply("250-sink.test")
			reply("250 8BITMIME")
		case "HELO":
			msg.Helo = arg
			reply("250 sink.test")
		case "MAIL":
			msg.From = addrArg(arg)
			reply("250 ok")
		case "RCPT":
			to := addrArg(arg)
			if s.opts.RejectRcpt != "" && to == s.opts.RejectRcpt {
				reply("550 no such user")
				continue
			}
			msg.To = append(msg.To, to)
			reply("250 ok")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "." {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
				b.WriteByte('\n')
			}
			msg.Data = b.String()
			select {
			case s.msgs <- msg:
			default:
			}
			msg = Message{Helo: msg.Helo}
			reply("250 queued")
		case "RSET":
			msg = Message{Helo: msg.Helo}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// addrArg extracts the address from "FROM:<a@b> BODY=8BITMIME".
func addrArg(arg string) string {
	_, v, _ := strings.Cut(arg, ":")
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[:i+1]
	}
	return strings.Trim(v, "<>")
}
