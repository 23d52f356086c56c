package notify

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/notify/notifytest"
)

func TestMailerSend(t *testing.T) {
	sink := notifytest.StartSMTPSink(t, notifytest.SinkOptions{})
	m, err := NewMailer(MailConfig{
		Server:   sink.Addr(),
		From:     "xlb <keepalived@mydomain.example>",
		To:       []string{"mick@mydomain.example", "ops@mydomain.example"},
		HeloName: "lb1.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	body := "real server web1 is DOWN\n.leading dot line\nreason: connection refused"
	if err := m.Send(context.Background(), "[lb1] web1\r\nBcc: evil@x - DOWN", body); err != nil {
		t.Fatalf("send: %v", err)
	}
	msg := sink.Wait(t, 5*time.Second)
	if msg.Helo != "lb1.test" {
		t.Errorf("helo %q, want lb1.test", msg.Helo)
	}
	if msg.From != "keepalived@mydomain.example" {
		t.Errorf("envelope from %q", msg.From)
	}
	if want := []string{"mick@mydomain.example", "ops@mydomain.example"}; !slices.Equal(msg.To, want) {
		t.Errorf("envelope to %q, want %q", msg.To, want)
	}
	if got := msg.Subject(); got != "[lb1] web1 Bcc: evil@x - DOWN" {
		t.Errorf("subject %q: CR/LF must not start a new header", got)
	}
	if strings.Contains(msg.Data, "\nBcc:") {
		t.Errorf("header injection through the subject:\n%s", msg.Data)
	}
	if got := msg.Body(); got != body+"\n" {
		t.Errorf("body %q, want %q", got, body+"\n")
	}
	for _, h := range []string{"From: xlb <keepalived@mydomain.example>\n", "To: mick@mydomain.example, ops@mydomain.example\n", "Content-Type: text/plain; charset=utf-8\n", "Date: "} {
		if !strings.Contains(msg.Data, h) {
			t.Errorf("message lacks %q:\n%s", h, msg.Data)
		}
	}
}

func TestMailerTimeout(t *testing.T) {
	sink := notifytest.StartSMTPSink(t, notifytest.SinkOptions{Stall: true})
	m, err := NewMailer(MailConfig{Server: sink.Addr(), From: "a@b.example", To: []string{"c@d.example"}, ConnectTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Send(context.Background(), "s", "b"); err == nil {
		t.Fatal("send to a server that never greets succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("send took %v with a 200ms timeout", d)
	}
}

func TestMailerRejectedRecipient(t *testing.T) {
	sink := notifytest.StartSMTPSink(t, notifytest.SinkOptions{RejectRcpt: "bad@d.example"})
	m, err := NewMailer(MailConfig{Server: sink.Addr(), From: "a@b.example", To: []string{"bad@d.example"}})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), "s", "b")
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("send: %v, want the 550 reply", err)
	}
}

func TestNewMailerValidates(t *testing.T) {
	for _, cfg := range []MailConfig{
		{Server: "", From: "a@b.example", To: []string{"c@d.example"}},
		{Server: "localhost", From: "not an address", To: []string{"c@d.example"}},
		{Server: "localhost", From: "a@b.example"},
		{Server: "localhost", From: "a@b.example", To: []string{"c@d.example\r\nX: y"}},
		{Server: "localhost", From: "a@b.example", To: []string{"c@d.example"}, HeloName: "two words"},
	} {
		if _, err := NewMailer(cfg); err == nil {
			t.Errorf("NewMailer(%+v) accepted", cfg)
		}
	}
	m, err := NewMailer(MailConfig{Server: "localhost", From: "a@b.example", To: []string{"c@d.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.addr != "localhost:25" {
		t.Errorf("server without port: addr %q, want localhost:25", m.addr)
	}
}
