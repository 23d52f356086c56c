package daemon

import (
	"testing"

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
