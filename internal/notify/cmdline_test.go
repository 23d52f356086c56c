package notify

import (
	"slices"
	"testing"
)

func TestSplitCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain words", "/bin/check  a\tb", []string{"/bin/check", "a", "b"}},
		{"leading and trailing blanks", "  x y  ", []string{"x", "y"}},
		{"double quotes keep blanks", `/s "two words" three`, []string{"/s", "two words", "three"}},
		{"single quotes keep blanks", `/s 'two  words'`, []string{"/s", "two  words"}},
		{"quotes abut text", `a"b c"'d'e`, []string{"ab cde"}},
		{"empty quotes are a word", `/s "" x`, []string{"/s", "", "x"}},
		{"other quote inside quotes", `/s "it's" '"q"'`, []string{"/s", "it's", `"q"`}},
		{"escaped blank", `/s a\ b`, []string{"/s", "a b"}},
		{"escaped quote inside quotes", `/s "a\"b"`, []string{"/s", `a"b`}},
		{"c escapes", `/s \t\n\x41\101\E`, []string{"/s", "\t\nAA\x1b"}},
		{"unknown escape is literal", `/s \q\\`, []string{"/s", `q\`}},
		{"keepalived notify example", `/etc/notify.sh VS_notify.1 UP 10.0.1.4:80`, []string{"/etc/notify.sh", "VS_notify.1", "UP", "10.0.1.4:80"}},
		{"empty line", "   ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitCommandLine(tc.in)
			if err != nil {
				t.Fatalf("SplitCommandLine(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("SplitCommandLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSplitCommandLineErrors(t *testing.T) {
	for _, in := range []string{`/s "open`, `/s 'open`, `/s trailing\`} {
		if got, err := SplitCommandLine(in); err == nil {
			t.Errorf("SplitCommandLine(%q) = %q, want an error", in, got)
		}
	}
}
