package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/healthd"
	"github.com/xlb/xlb/internal/config"
)

const haSuspendConfig = `
[dataplane]
interfaces = ["eth0"]

[[virtual_server]]
address = "203.0.113.10"
port = 80
ha_suspend = true

[[virtual_server.real_server]]
address = "192.0.2.100"

[[virtual_server.real_server.tcp_check]]

[[virtual_server]]
address = "203.0.113.10"
port = 443

[[virtual_server.real_server]]
address = "192.0.2.100"

[[virtual_server.real_server.tcp_check]]
`

// TestHASuspend: a backup does not check the reals of a virtual server
// with ha_suspend (keepalived's behaviour); the master does, and other
// virtual servers are checked on both.
func TestHASuspend(t *testing.T) {
	cfg, err := config.Parse("xlb.toml", []byte(haSuspendConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, master := range []bool{false, true} {
		hv, err := healthServices(cfg, master)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(hv[0].Reals[0].Checks), map[bool]int{false: 0, true: 1}[master]; got != want {
			t.Errorf("master %v: ha_suspend service has %d checks, want %d", master, got, want)
		}
		if len(hv[1].Reals[0].Checks) != 1 {
			t.Errorf("master %v: the other service lost its check", master)
		}
	}
}

// TestHealthServicesCheckers: every checker of the configuration reaches
// healthd with its settings, and passes healthd's validation.
func TestHealthServicesCheckers(t *testing.T) {
	cfg, err := config.Load("../config/testdata/good/checkers.toml")
	if err != nil {
		t.Fatal(err)
	}
	hv, err := healthServices(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	dns := hv[0].Reals[0].Checks
	var types []string
	for _, c := range dns {
		types = append(types, c.Type.String())
	}
	if want := "DNS_CHECK DNS_CHECK UDP_CHECK UDP_CHECK UDP_CHECK PING_CHECK FILE_CHECK FILE_CHECK"; strings.Join(types, " ") != want {
		t.Fatalf("checks %v, want %s", types, want)
	}
	if c := dns[0]; c.DNSType != "A" || c.DNSName != "www.example.com" || c.Retry != 3 || c.DelayBeforeRetry != 10*time.Second || c.ConnectPort != 53 {
		t.Errorf("dns_check = %+v", c)
	}
	if c := dns[2]; c.Payload != "0a 1b2c" || !c.RequireReply || c.ReplyData != "0a xx" || c.MinReplyLength != 2 || c.MaxReplyLength != 512 {
		t.Errorf("udp_check = %+v", c)
	}
	if c := dns[5]; c.ConnectIP != netip.MustParseAddr("192.0.2.110") || c.Retry != 2 || c.ConnectPort != 0 {
		t.Errorf("ping_check = %+v", c)
	}
	if c := dns[6]; c.TrackFile != "maint" || c.FilePath != "/run/xlb/maint" || c.FileWeight != -10 || !c.InitFile {
		t.Errorf("file_check = %+v", c)
	}
	if c := dns[7]; c.FilePath != "/run/xlb/drain" || c.FileWeight != 5 || !c.FileReverse || c.InitValue != 1 || !c.InitOverwrite {
		t.Errorf("file_check = %+v", c)
	}
	mail := hv[1].Reals[0].Checks
	if c := mail[1]; c.Type != healthd.SMTPCheck || c.HeloName != "lb1.example.com" || c.ConnectPort != 25 {
		t.Errorf("smtp_check = %+v", c)
	}
	if c := mail[0]; c.Type != healthd.HTTPGet || c.HTTPProtocol != "1.0C" || c.URLs[0].Regex == "" || !c.URLs[1].RegexNoMatch {
		t.Errorf("http_get = %+v", c)
	}
}
