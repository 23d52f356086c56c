package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", `
[dataplane]
interfaces = ["lo"]

[[virtual_server]]
address = "203.0.113.10"
port = 80

[[virtual_server.real_server]]
address = "192.0.2.100"
`)
	bad := write("bad.toml", `
[dataplane]
interfaces = ["lo"]
xdp_mod = "native"
`)
	noIf := write("noif.toml", `
[dataplane]
interfaces = ["lo", "xlbt-nope0"]
`)
	for _, tc := range []struct {
		name     string
		path     string
		code     int
		out, err string
	}{
		{"valid", good, 0, "good.toml: ok (1 virtual servers, 0 vrrp instances)", ""},
		{"unknown_key", bad, 2, "", "bad.toml:4: dataplane.xdp_mod: unknown key"},
		{"missing_interface", noIf, 2, "", "noif.toml:3: dataplane.interfaces[1]: interface \"xlbt-nope0\" does not exist"},
		{"missing_file", filepath.Join(dir, "none.toml"), 2, "", "none.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			app := newApp()
			app.Writer, app.ErrWriter = &out, &errOut
			code := 0
			if err := app.Run([]string{"xlbd", "check", "--config", tc.path}); err != nil {
				code = exitCode(err)
			}
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, %q, %q", code, out.String(), errOut.String(), tc.code, tc.out, tc.err)
			}
		})
	}
}
