package config

import (
	"net/netip"
	"testing"
	"time"
)

// TestCheckerKeys checks what testdata/good/checkers.toml means: every
// checker key, and keepalived's defaults where a key is left out.
func TestCheckerKeys(t *testing.T) {
	c, err := Load("testdata/good/checkers.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrackFiles) != 2 {
		t.Fatalf("%d track files", len(c.TrackFiles))
	}
	if f := c.TrackFiles[0]; f.Name != "maint" || f.File != "/run/xlb/maint" || f.Weight != -10 || f.Reverse || !f.InitFile || f.InitValue != 0 || f.InitOverwrite {
		t.Errorf("track_file[0] = %+v", f)
	}
	if f := c.TrackFiles[1]; f.Weight != 0 || !f.Reverse || !f.InitFile || f.InitValue != 1 || !f.InitOverwrite {
		t.Errorf("track_file[1] = %+v", f)
	}

	dns := c.VirtualServers[0].RealServers[0]
	d0, d1 := dns.DNSCheck[0], dns.DNSCheck[1]
	// type in any case; keepalived's retry 3 and delay_before_retry of the
	// service's delay_loop; connect_port from the real.
	if d0.Type != "A" || d0.Name != "www.example.com" || d0.Retry != 3 || d0.DelayBeforeRetry.Duration != 10*time.Second ||
		d0.ConnectPort != 53 || d0.ConnectTimeout.Duration != 2*time.Second {
		t.Errorf("dns_check[0] = %+v", d0)
	}
	if d1.Type != "SOA" || d1.Name != "." || d1.Retry != 1 || d1.DelayBeforeRetry.Duration != 500*time.Millisecond {
		t.Errorf("dns_check[1] = %+v", d1)
	}
	u0, u1, u2 := dns.UDPCheck[0], dns.UDPCheck[1], dns.UDPCheck[2]
	if u0.Payload != "0a 1b2c" || u0.RequireReply != (RequireReply{true, "0a xx"}) || u0.MinReplyLength != 2 || u0.MaxReplyLength != 512 || u0.ConnectPort != 53 {
		t.Errorf("udp_check[0] = %+v", u0)
	}
	if u1.RequireReply != (RequireReply{Required: true}) || u1.MaxReplyLength != 255 || u1.Retry != 1 || u1.DelayBeforeRetry.Duration != time.Second {
		t.Errorf("udp_check[1] = %+v", u1)
	}
	if u2.RequireReply.Required || u2.ConnectPort != 5353 || u2.Payload != "" {
		t.Errorf("udp_check[2] = %+v", u2)
	}
	if p := dns.PingCheck[0]; p.ConnectIP != netip.MustParseAddr("192.0.2.110") || p.BindTo != netip.MustParseAddr("192.0.2.2") ||
		p.Retry != 2 || p.ConnectTimeout.Duration != 5*time.Second || p.DelayBeforeRetry.Duration != time.Second {
		t.Errorf("ping_check = %+v", p)
	}
	// Without weight, weight and reverse come from the track_file.
	if f := dns.FileCheck[0]; f.TrackFile != "maint" || f.Weight != -10 || f.Reverse {
		t.Errorf("file_check[0] = %+v", f)
	}
	if f := dns.FileCheck[1]; f.TrackFile != "drain" || f.Weight != 5 || !f.Reverse {
		t.Errorf("file_check[1] = %+v", f)
	}

	mail := c.VirtualServers[1].RealServers[0]
	if s := mail.SMTPCheck[0]; s.HeloName != "lb1.example.com" || s.ConnectPort != 25 || s.ConnectTimeout.Duration != 3*time.Second {
		t.Errorf("smtp_check[0] = %+v", s)
	}
	if s := mail.SMTPCheck[1]; s.HeloName != "smtpchecker.keepalived.org" || s.Retry != 1 || s.ConnectTimeout.Duration != 5*time.Second {
		t.Errorf("smtp_check[1] = %+v", s)
	}
	h := mail.HTTPGet[0]
	if h.HTTPProtocol != "1.0C" || h.URLs[0].Regex != `(?i)status:\s*ok` || h.URLs[0].RegexNoMatch || h.URLs[1].Regex != "maintenance" || !h.URLs[1].RegexNoMatch {
		t.Errorf("http_get = %+v", h)
	}
}
