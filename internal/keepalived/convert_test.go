package keepalived

import (
	"slices"
	"strings"
	"testing"

	"github.com/xlb/xlb/internal/notify"
)

// convertText parses and converts text as k.conf.
func convertText(t *testing.T, text string) (*Result, error) {
	t.Helper()
	f, err := Parse("k.conf", []byte(text), Options{FS: MapFS{}})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return Convert(f, nil)
}

// TestConvertErrors checks the exact message of each kind of bad input the
// converter finds: what is wrong, where, and what was expected.
func TestConvertErrors(t *testing.T) {
	const inst = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown block", "vrrp_instanse VI_1 {\n}\n",
			[]string{"k.conf:1: vrrp_instanse: unknown block (expected global_defs, vrrp_script, vrrp_sync_group, vrrp_instance, virtual_server or another keepalived top-level keyword)"}},
		{"unknown keyword", inst + "    priorty 100\n}\n",
			[]string{"k.conf:4: priorty: unknown keyword in vrrp_instance"}},
		{"block without braces", "vrrp_instance VI_1\n",
			[]string{"k.conf:1: vrrp_instance: expected '{' (vrrp_instance starts a block)"}},
		{"value with a block", "global_defs {\n    router_id lb1 {\n    }\n}\n",
			[]string{"k.conf:2: router_id: takes no block (expected a value, not '{')"}},
		{"missing value", "global_defs {\n    router_id\n}\n",
			[]string{"k.conf:2: router_id: expected 1 value"}},
		{"too many values", inst + "    priority 100 200\n}\n",
			[]string{"k.conf:4: priority: expected 1 value, got 2"}},
		{"number out of range", inst + "    priority 256\n}\n",
			[]string{`k.conf:4: priority: expected an integer from 1 to 255, got "256"`}},
		{"bad state", inst + "    state master\n}\n",
			[]string{`k.conf:4: state: expected MASTER or BACKUP, got "master" (keepalived would run it as BACKUP)`}},
		{"bad virtual address", inst + "    virtual_ipaddress {\n        203.0.113.300/24\n    }\n}\n",
			[]string{`k.conf:5: 203.0.113.300/24: bad address "203.0.113.300/24" (expected ADDRESS or ADDRESS/PREFIX-LENGTH)`}},
		{"bad address option", inst + "    virtual_ipaddress {\n        203.0.113.1/24 dev\n    }\n}\n",
			[]string{"k.conf:5: 203.0.113.1/24: dev needs a value"}},
		{"bad service address", "virtual_server 203.0.113.1.5 80 {\n}\n",
			[]string{`k.conf:1: virtual_server: bad address "203.0.113.1.5" (expected an IPv4 or IPv6 address)`}},
		{"bad port", "virtual_server 203.0.113.1 http {\n}\n",
			[]string{`k.conf:1: virtual_server: bad port "http" (expected a number from 0 to 65535)`}},
		{"bad real address", "virtual_server 203.0.113.1 80 {\n    real_server web1 80 {\n    }\n}\n",
			[]string{`k.conf:2: real_server: bad address "web1" (expected an IPv4 or IPv6 address)`}},
		{"mixed families", "virtual_server 203.0.113.1 80 {\n    real_server 2001:db8::1 80 {\n    }\n}\n",
			[]string{"k.conf:2: real_server: real server 2001:db8::1 is not of the service's address family"}},
		{"bad scheduler", "virtual_server 203.0.113.1 80 {\n    lb_algo fastest\n}\n",
			[]string{`k.conf:2: lb_algo: unknown scheduler "fastest" (expected rr, wrr, lc, wlc, lblc, sh, mh, dh, fo, ovf, lblcr, sed, nq or twos)`}},
		{"bad status code", "virtual_server 203.0.113.1 80 {\n    real_server 192.0.2.1 80 {\n        HTTP_GET {\n            url {\n                path /\n                status_code 2xx\n            }\n        }\n    }\n}\n",
			[]string{`k.conf:6: status_code: bad status code "2xx" (expected a code or range within 100-599)`}},
		{"url without path", "virtual_server 203.0.113.1 80 {\n    real_server 192.0.2.1 80 {\n        HTTP_GET {\n            url {\n                status_code 200\n            }\n        }\n    }\n}\n",
			[]string{"k.conf:4: url: url has no path"}},
		{"bad DNS type", "virtual_server 203.0.113.1 53 {\n    real_server 192.0.2.1 53 {\n        DNS_CHECK {\n            type PTR\n        }\n    }\n}\n",
			[]string{`k.conf:4: type: unknown DNS type "PTR" (expected A, NS, CNAME, SOA, MX, TXT or AAAA)`}},
		{"bad DNS name", "virtual_server 203.0.113.1 53 {\n    real_server 192.0.2.1 53 {\n        DNS_CHECK {\n            name a..b\n        }\n    }\n}\n",
			[]string{`k.conf:4: name: name "a..b" has an empty label`}},
		{"bad payload", "virtual_server 203.0.113.1 53 {\n    real_server 192.0.2.1 53 {\n        UDP_CHECK {\n            payload 0a zz\n        }\n    }\n}\n",
			[]string{`k.conf:4: payload: bad hex string "0a zz": 'z' is not a hex digit`}},
		{"bad http_protocol", "virtual_server 203.0.113.1 80 {\n    real_server 192.0.2.1 80 {\n        HTTP_GET {\n            http_protocol 0.9\n            url {\n                path /\n            }\n        }\n    }\n}\n",
			[]string{`k.conf:4: http_protocol: expected 1.0, 1.0C or 1.1, got "0.9"`}},
		{"bad file check weight", "track_file t {\n    file /run/t\n}\nvirtual_server 203.0.113.1 80 {\n    real_server 192.0.2.1 80 {\n        FILE_CHECK {\n            track_file t\n            weight 3 sideways\n        }\n    }\n}\n",
			[]string{`k.conf:8: weight: expected reverse or noreverse after the weight, got "sideways"`}},
		{"relative track file", "track_file t {\n    file run/t\n}\n",
			[]string{`k.conf:2: file: xlb needs an absolute path, got "run/t"`}},
		{"bad bool", inst + "    smtp_alert maybe\n}\n",
			[]string{`k.conf:4: smtp_alert: expected on, off, true, false, yes or no, got "maybe"`}},
		{"bad script quoting", inst + "    notify_master \"/bin/x 'a\"\n}\n",
			[]string{`k.conf:4: notify_master: missing closing ' in "/bin/x 'a"`}},
		{"bad auth type", inst + "    authentication {\n        auth_type PLAIN\n    }\n}\n",
			[]string{`k.conf:5: auth_type: expected PASS or AH, got "PLAIN"`}},
		{"every problem at once", inst + "    priority 0\n    advert_int -1\n    track_interface {\n        eth0 weight 300\n    }\n}\n",
			[]string{
				`k.conf:4: priority: expected an integer from 1 to 255, got "0"`,
				`k.conf:5: advert_int: expected a number of seconds from 0.01 to 255, got "-1"`,
				`k.conf:7: eth0: bad weight "300" (expected -254 to 254)`,
			}},
		// What keepalived accepts but xlb rejects is reported at the
		// keepalived line the value came from.
		{"xlb rejects a value", inst + "    virtual_ipaddress {\n        203.0.113.1\n    }\n}\nvrrp_instance VI_2 {\n    interface eth1\n    virtual_router_id 2\n    virtual_ipaddress {\n        203.0.113.1\n    }\n}\n",
			[]string{"k.conf:12: vrrp_instance[1].virtual_ipaddress[0]: xlb rejects the imported value: address 203.0.113.1 is also vrrp_instance[0].virtual_ipaddress[0]"}},
		{"xlb rejects an email", "global_defs {\n    notification_email {\n        not an address\n    }\n}\n",
			[]string{`k.conf:3: global.notification_email[0]: xlb rejects the imported value: invalid email address "not"`,
				`k.conf:3: global.notification_email[1]: xlb rejects the imported value: invalid email address "an"`,
				`k.conf:3: global.notification_email[2]: xlb rejects the imported value: invalid email address "address"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := convertText(t, tc.text)
			var got []string
			for _, e := range Errors(err) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if res == nil || res.Config != nil {
				t.Errorf("Result = %+v, want findings only", res)
			}
		})
	}
}

func TestScriptLine(t *testing.T) {
	for _, tc := range []struct {
		raw         string
		argv, extra []string
		cmd         string
	}{
		{`notify_master /etc/notify.sh`, []string{"/etc/notify.sh"}, nil, "/etc/notify.sh"},
		{`notify_master "/etc/notify.sh master"`, []string{"/etc/notify.sh", "master"}, nil, "/etc/notify.sh master"},
		{`notify "/bin/n ' spaced arg ' \"q\"" root wheel`, []string{"/bin/n", " spaced arg ", `"q"`}, []string{"root", "wheel"}, `/bin/n ' spaced arg ' '"q"'`},
		{`script "/bin/x \x41\t$HOME it\'s"`, []string{"/bin/x", "A\t$HOME", "it's"}, nil, "/bin/x 'A\t$HOME' 'it'\\''s'"},
		{`misc_path '/bin/check "a b"'`, []string{"/bin/check", "a b"}, nil, "/bin/check 'a b'"},
		{`notify /bin/x ''`, []string{"/bin/x"}, []string{""}, "/bin/x"},
	} {
		argv, extra, err := scriptLine(tc.raw)
		if err != nil || !slices.Equal(argv, tc.argv) || !slices.Equal(extra, tc.extra) {
			t.Errorf("scriptLine(%s) = %q %q %v; want %q %q", tc.raw, argv, extra, err, tc.argv, tc.extra)
			continue
		}
		cmd := commandLine(argv)
		if cmd != tc.cmd {
			t.Errorf("commandLine(%q) = %s, want %s", argv, cmd, tc.cmd)
		}
		// xlb splits the command line back into the same words.
		if back, err := notify.SplitCommandLine(cmd); err != nil || !slices.Equal(back, argv) {
			t.Errorf("SplitCommandLine(%s) = %q %v, want %q", cmd, back, err, argv)
		}
	}
	for _, bad := range []string{`notify`, `notify ""`, `notify "a\`, `notify "'a"`} {
		if _, _, err := scriptLine(bad); err == nil {
			t.Errorf("scriptLine(%s) succeeded", bad)
		}
	}
}

func TestTOMLValues(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        `"plain"`,
		"q\"b\\":       `"q\"b\\"`,
		"tab\tnl\n":    `"tab\tnl\n"`,
		"\x01\x7f":     `"\u0001\u007F"`,
		"bad\xffutf-8": "\"bad\uFFFDutf-8\"",
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[float64]string{30: "30", 0.92: "0.92", 1.5: "1.5", 0.000001: "0.000001"} {
		if got := tomlSeconds(in); got != want {
			t.Errorf("tomlSeconds(%v) = %s, want %s", in, got, want)
		}
	}
	if got := commentText("a\x00b\tc\xff"); got != "a?b\tc\uFFFD" {
		t.Errorf("commentText = %q", got)
	}
}

// TestSMTPAlertWithoutMail: keepalived sends no mail without a server and
// addresses, which xlb would reject; smtp_alert is dropped with a warning.
func TestSMTPAlertWithoutMail(t *testing.T) {
	res, err := convertText(t, "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    smtp_alert\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if res.Config.VRRPInstances[0].SMTPAlert {
		t.Error("smtp_alert imported")
	}
	if len(res.Findings) != 1 || res.Findings[0].String() != "k.conf:1: vrrp_instance: warning: smtp_alert without global_defs smtp_server and notification_email sends no mail in keepalived" {
		t.Errorf("findings = %v", res.Findings)
	}
	if !strings.Contains(string(res.TOML), "# xlb: smtp_alert = true dropped: without smtp_server and notification_email keepalived sends no mail") {
		t.Errorf("output:\n%s", res.TOML)
	}
}

// TestNumbers: keepalived reads numbers with strtol and strtod; the TOML
// gets them in TOML's own form.
func TestNumbers(t *testing.T) {
	res, err := convertText(t, `global_defs {
    vrrp_garp_master_delay 007
}
vrrp_instance V {
    interface eth0
    virtual_router_id +1
    priority 0100
    advert_int 1e0
}
virtual_server 192.0.2.1 80 {
    weight 007
    delay_loop 1.50
    real_server 192.0.2.2 80 {
    }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	in, vs := res.Config.VRRPInstances[0], res.Config.VirtualServers[0]
	if in.GARPMasterDelay.Seconds() != 7 || in.VirtualRouterID != 1 || in.Priority != 100 || in.AdvertInt.Seconds() != 1 ||
		vs.RealServers[0].Weight != 7 || vs.DelayLoop.Seconds() != 1.5 {
		t.Errorf("instance %+v, service %+v", in, vs)
	}
}

// TestVRRPTrackFile: a vrrp_instance's track_file block becomes its
// track_file entries (reverse kept), weights resolved as keepalived does.
func TestVRRPTrackFile(t *testing.T) {
	res, err := convertText(t, `track_file maint {
    file /run/xlb/maint
    weight -2
}
track_file drain {
    file /run/xlb/drain
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        203.0.113.10/24
    }
    track_file {
        maint
        drain weight 30 reverse
    }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.TOML), `track_file = ["maint", "drain weight 30 reverse"]`) {
		t.Errorf("output:\n%s", res.TOML)
	}
	got := res.Config.VRRPInstances[0].TrackFile
	if len(got) != 2 || got[0].Weight != -2 || got[0].Reverse || got[1].Weight != 30 || !got[1].Reverse {
		t.Errorf("track_file = %+v", got)
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings = %v", res.Findings)
	}
}
