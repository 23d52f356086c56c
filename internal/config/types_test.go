package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDurationUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in      any
		want    time.Duration
		wantErr string
	}{
		{int64(30), 30 * time.Second, ""},
		{int64(0), 0, ""},
		{0.1, 100 * time.Millisecond, ""},
		{1.5, 1500 * time.Millisecond, ""},
		{"30s", 30 * time.Second, ""},
		{"1m", time.Minute, ""},
		{"100ms", 100 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{"2", 2 * time.Second, ""},
		{"0.25", 250 * time.Millisecond, ""},
		{int64(-1), 0, "must not be negative"},
		{-0.5, 0, "must not be negative"},
		{"-3s", 0, "must not be negative"},
		{"30x", 0, `invalid duration "30x"`},
		{"", 0, `invalid duration ""`},
		{"inf", 0, `invalid duration "inf"`},
		{true, 0, "got boolean true"},
		{int64(1) << 40, 0, "too long"},
	} {
		var d Duration
		err := d.UnmarshalTOML(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("UnmarshalTOML(%#v) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("UnmarshalTOML(%#v): %v", tc.in, err)
		case d.Duration != tc.want:
			t.Errorf("UnmarshalTOML(%#v) = %s, want %s", tc.in, d.Duration, tc.want)
		}
	}
}

func TestDurationTextRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 10 * time.Millisecond, time.Second, 90 * time.Second, 900 * time.Second, 1234567 * time.Microsecond} {
		b, err := Duration{d}.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalTOML(string(b)); err != nil || back.Duration != d {
			t.Errorf("%s → %q → %s, %v", d, b, back.Duration, err)
		}
		if err := back.UnmarshalText(b); err != nil || back.Duration != d {
			t.Errorf("UnmarshalText(%q) = %s, %v", b, back.Duration, err)
		}
	}
}

func TestParseVIP(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    VIP
		wantErr string
	}{
		{"203.0.113.10", VIP{Prefix: netip.MustParsePrefix("203.0.113.10/32")}, ""},
		{"203.0.113.10/24", VIP{Prefix: netip.MustParsePrefix("203.0.113.10/24")}, ""},
		{"  192.0.2.1/24   dev eth1  ", VIP{Prefix: netip.MustParsePrefix("192.0.2.1/24"), Dev: "eth1"}, ""},
		{"192.0.2.1/24 dev eth1 brd 192.0.2.255 label eth1:gw scope link", VIP{
			Prefix: netip.MustParsePrefix("192.0.2.1/24"), Dev: "eth1",
			Broadcast: netip.MustParseAddr("192.0.2.255"), Label: "eth1:gw", Scope: "link",
		}, ""},
		{"192.0.2.1/24 broadcast +", VIP{Prefix: netip.MustParsePrefix("192.0.2.1/24"), Broadcast: netip.MustParseAddr("192.0.2.255")}, ""},
		{"192.0.2.1/30 brd -", VIP{Prefix: netip.MustParsePrefix("192.0.2.1/30"), Broadcast: netip.MustParseAddr("192.0.2.0")}, ""},
		{"2001:db8::10/64 dev eth0", VIP{Prefix: netip.MustParsePrefix("2001:db8::10/64"), Dev: "eth0"}, ""},
		{"2001:db8::10", VIP{Prefix: netip.MustParsePrefix("2001:db8::10/128")}, ""},
		{"", VIP{}, "empty address"},
		{"203.0.113.300", VIP{}, "invalid address"},
		{"203.0.113.10/33", VIP{}, "invalid address"},
		{"fe80::1%eth0", VIP{}, "invalid address"},
		{"203.0.113.10 dev", VIP{}, "dev needs a value"},
		{"203.0.113.10 dev eth0 dev eth1", VIP{}, "dev given twice"},
		{"203.0.113.10 peer 192.0.2.1", VIP{}, `unsupported option "peer"`},
		{"203.0.113.10 brd nope", VIP{}, `invalid broadcast address "nope"`},
		{"2001:db8::1 brd +", VIP{}, "brd is only valid for IPv4"},
	} {
		got, err := ParseVIP(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseVIP(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParseVIP(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseVIP(%q) = %+v, want %+v", tc.in, got, tc.want)
		default:
			back, err := ParseVIP(got.String())
			if err != nil || back != got {
				t.Errorf("ParseVIP(%q).String() = %q does not read back: %+v, %v", tc.in, got.String(), back, err)
			}
		}
	}
}

func TestStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		in      any
		want    StatusCodes
		wantErr string
	}{
		{int64(200), StatusCodes{{200, 200}}, ""},
		{"200-299", StatusCodes{{200, 299}}, ""},
		{"200-299 302, 404", StatusCodes{{200, 299}, {302, 302}, {404, 404}}, ""},
		{[]any{int64(200), "300-399"}, StatusCodes{{200, 200}, {300, 399}}, ""},
		{"2xx", nil, `invalid status code "2xx"`},
		{"", nil, `invalid status code ""`},
		{"200-", nil, `invalid status code "200-"`},
		{1.5, nil, "got float 1.5"},
		{[]any{true}, nil, "got boolean true"},
	} {
		var s StatusCodes
		err := s.UnmarshalTOML(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("UnmarshalTOML(%#v) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("UnmarshalTOML(%#v): %v", tc.in, err)
		case !reflect.DeepEqual(s, tc.want):
			t.Errorf("UnmarshalTOML(%#v) = %v, want %v", tc.in, s, tc.want)
		}
	}
	s := StatusCodes{{200, 299}, {302, 302}}
	if got := s.String(); got != "200-299 302" {
		t.Errorf("String() = %q", got)
	}
	for code, want := range map[int]bool{199: false, 200: true, 250: true, 299: true, 301: false, 302: true} {
		if s.Contains(code) != want {
			t.Errorf("Contains(%d) = %v, want %v", code, !want, want)
		}
	}
}

func TestTracked(t *testing.T) {
	var ti TrackInterface
	if err := ti.UnmarshalTOML("eth0 weight -10"); err != nil || ti != (TrackInterface{"eth0", -10}) {
		t.Errorf("track_interface = %+v, %v", ti, err)
	}
	if err := ti.UnmarshalTOML("eth1"); err != nil || ti != (TrackInterface{"eth1", 0}) {
		t.Errorf("track_interface = %+v, %v", ti, err)
	}
	var ts TrackScript
	if err := ts.UnmarshalTOML("chk weight 0"); err != nil || ts != (TrackScript{"chk", 0, true}) {
		t.Errorf("track_script = %+v, %v", ts, err)
	}
	if b, _ := ts.MarshalText(); string(b) != "chk weight 0" {
		t.Errorf("MarshalText = %q", b)
	}
	if err := ts.UnmarshalTOML("chk"); err != nil || ts != (TrackScript{"chk", 0, false}) {
		t.Errorf("track_script = %+v, %v", ts, err)
	}
	for _, bad := range []any{"chk weight", "chk weight x", "chk foo 1", "", int64(1)} {
		if err := ts.UnmarshalTOML(bad); err == nil {
			t.Errorf("track_script %#v: no error", bad)
		}
	}
	var tf TrackFileRef
	for in, want := range map[string]TrackFileRef{
		"maint":                    {Name: "maint"},
		"maint weight -10":         {Name: "maint", Weight: -10, WeightSet: true},
		"maint weight 5 reverse":   {Name: "maint", Weight: 5, Reverse: true, WeightSet: true},
		"maint weight 5 noreverse": {Name: "maint", Weight: 5, WeightSet: true},
	} {
		if err := tf.UnmarshalTOML(in); err != nil || tf != want {
			t.Errorf("track_file %q = %+v, %v; want %+v", in, tf, err, want)
		}
		if b, _ := tf.MarshalText(); in != "maint weight 5 noreverse" && string(b) != in {
			t.Errorf("MarshalText = %q, want %q", b, in)
		}
	}
	for _, bad := range []any{"maint reverse", "maint weight 5 sideways", "maint weight", "", int64(1)} {
		if err := tf.UnmarshalTOML(bad); err == nil {
			t.Errorf("track_file %#v: no error", bad)
		}
	}
}

func TestGranularity(t *testing.T) {
	for _, tc := range []struct {
		in      any
		want    Granularity
		wantErr string
	}{
		{int64(24), 24, ""},
		{"/24", 24, ""},
		{"24", 24, ""},
		{"255.255.255.0", 24, ""},
		{"255.255.255.255", 32, ""},
		{"255.255.0.255", 0, "not contiguous"},
		{"0.0.0.0", 0, "selects no bits"},
		{int64(0), 0, "between 1 and 128"},
		{"/129", 0, "between 1 and 128"},
		{"ffff::", 0, "invalid granularity"},
		{true, 0, "got boolean"},
	} {
		var g Granularity
		err := g.UnmarshalTOML(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("UnmarshalTOML(%#v) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("UnmarshalTOML(%#v): %v", tc.in, err)
		case g != tc.want:
			t.Errorf("UnmarshalTOML(%#v) = %d, want %d", tc.in, g, tc.want)
		}
	}
	if got := Granularity(0).Bits(netip.MustParseAddr("2001:db8::1")); got != 128 {
		t.Errorf("Bits of zero granularity on IPv6 = %d, want 128", got)
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
		err  bool
	}{
		{"localhost", "localhost", 25, false},
		{"mail.example.com:587", "mail.example.com", 587, false},
		{"192.0.2.5 2525", "192.0.2.5", 2525, false},
		{"2001:db8::25", "2001:db8::25", 25, false},
		{"[2001:db8::25]:26", "2001:db8::25", 26, false},
		{"host:0", "", 0, true},
		{"host:x", "", 0, true},
		{"a b c", "", 0, true},
		{":25", "", 0, true},
		{"[2001:db8::25", "", 0, true},
	} {
		h, p, err := splitHostPort(tc.in, 25)
		if (err != nil) != tc.err || h != tc.host || p != tc.port {
			t.Errorf("splitHostPort(%q) = %q, %d, %v", tc.in, h, p, err)
		}
	}
	g := Global{SMTPServer: "192.0.2.5 2525"}
	if got := g.SMTPAddress(); got != "192.0.2.5:2525" {
		t.Errorf("SMTPAddress() = %q", got)
	}
}

func TestParseAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.200:8080":   "192.0.2.200:8080",
		"192.0.2.200 8080":   "192.0.2.200:8080",
		"[2001:db8::1]:80":   "[2001:db8::1]:80",
		"2001:db8::1 80":     "[2001:db8::1]:80",
		"192.0.2.200":        "",
		"192.0.2.200 99999":  "",
		"host:80":            "",
		"192.0.2.200:80 x y": "",
	} {
		got, err := parseAddrPort(in)
		if want == "" {
			if err == nil {
				t.Errorf("parseAddrPort(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("parseAddrPort(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}
