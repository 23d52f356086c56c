package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xlb/xlb/internal/keepalived"
	"github.com/xlb/xlb/internal/lab"
)

// TestImportedSeedRunsTheLab: the seed's keepalived.conf and iptables
// rules, imported with the importer, run the seed's two directors in the
// lab with only the addresses changed to the lab's (the interface names
// are the seed's own), plus where this run keeps its pins and socket.
func TestImportedSeedRunsTheLab(t *testing.T) {
	res, err := keepalived.Import("../keepalived/testdata/seed/keepalived.conf",
		keepalived.ImportOptions{IPTables: "../keepalived/testdata/seed/iptables.rules"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 2, false)
	for i := range 2 {
		s := strings.NewReplacer(
			"200.200.200.200", lab.VIP,
			"192.168.1.", "192.0.2.",
		).Replace(string(res.TOML))
		if i == 1 { // lb2, as the seed says: BACKUP with priority 150
			s = strings.NewReplacer(`state = "MASTER"`, `state = "BACKUP"`, "priority = 200", "priority = 150").Replace(s)
		}
		s = strings.Replace(s, "[global]\n", fmt.Sprintf("[global]\nbpffs = %q\ncontrol_socket = %q\n", e.pins[i], e.sock[i]), 1)
		p := filepath.Join(e.dir, fmt.Sprintf("imported-lb%d.toml", i+1))
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		e.startXlbd(i, p)
	}
	e.waitVRRP(0, "MASTER", 10*time.Second)
	e.waitVRRP(1, "BACKUP", 10*time.Second)
	e.waitUp(10 * time.Second)
	body, err := get(e.topo.Client, vipURL)
	if err != nil || (body != "web1" && body != "web2") {
		t.Fatalf("through the VIP: %q %v", body, err)
	}
	st := e.status()
	if len(st.Services) != 1 || st.Services[0].Scheduler != "wlc" || st.Services[0].Persistence != "50s" || len(st.Services[0].Reals) != 2 {
		t.Errorf("imported service: %+v", st.Services)
	}
	seen, err := get(e.topo.Webs[0], "http://"+lab.InetAddr+":8080/")
	if err != nil || !strings.HasPrefix(seen, lab.LBPublic[0]+":") {
		t.Errorf("masquerade of the farm: %q %v", seen, err)
	}
}
