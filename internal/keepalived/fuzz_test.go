package keepalived

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// FuzzParse feeds arbitrary text to the parser and the converter: they
// must not panic, must stop within the limits (an input may include itself,
// define what refers to itself, or nest multiline definitions), and
// whatever TOML they write must be valid TOML.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/seed", "testdata/corpus/*"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"include fuzz.conf\ninclude fuzz.conf\n",
		"include {fuzz,other}.conf\n",
		"$A=${A}${A}\nrouter_id $A\n",
		"$A=\\\n$A \\\n$A\n$A\n",
		"$X=@lb1 global_defs {\n$X router_id a }\n",
		"~SEQ(N, 1, 3) vrrp_instance VI_$N {\n}\n",
		"vrrp_instance \"A B\" { state \"MASTER\" } }\n",
		"global_defs { notification_email { a@b\\\n c@d } }\n",
		"virtual_server 192.0.2.1 80 { real_server 192.0.2.2 80 { HTTP_GET { url { path / } } } }\n",
		"vrrp_instance V { virtual_ipaddress { 2001:db8::1/64 dev eth0 label x scope link } }\n",
		"@^x $N=1\n${N}\n${_PWD}${_INSTANCE}${_HASH}${_RANDOM 1 2}\n",
		"global_defs {\n vrrp_garp_master_delay 007\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id +1\n priority 0100\n advert_int 1e0\n}\n" +
			"virtual_server 192.0.2.1 80 {\n weight 007\n delay_loop 1.50\n real_server 192.0.2.2 80 {\n }\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := MapFS{
			"fuzz.conf":  string(data),
			"other.conf": "global_defs {\n router_id other\n}\n",
		}
		start := time.Now()
		file, err := Parse("fuzz.conf", data, Options{FS: fsys, Instance: "lb1", MaxLines: 5000})
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		res, _ := Convert(file, nil)
		if res != nil && res.TOML != nil {
			var m map[string]any
			if _, err := toml.Decode(string(res.TOML), &m); err != nil {
				t.Fatalf("invalid TOML: %v\n%s", err, res.TOML)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %s", d)
		}
	})
}
