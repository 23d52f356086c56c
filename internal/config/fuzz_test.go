package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic, every
// problem must be an *Error, and whatever it accepts must survive
// Marshal → Parse unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.toml")
	files = append(files, "testdata/seed.toml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a = [{b = 1}, {c = [1, \n2]}]\n[[a.d]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		locate(string(data))
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a Config with an error")
			}
			for _, e := range Errors(err) {
				if e.Msg == "" || e.File != "fuzz.toml" {
					t.Fatalf("malformed problem %#v", e)
				}
			}
			return
		}
		b, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of an accepted config: %v", err)
		}
		back, err := Parse("fuzz.toml", b)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, b)
		}
		if !c.Equal(back) {
			t.Fatalf("round trip changed the config:\n%s", b)
		}
		if err := CheckHost(c, func(string) bool { return false }); err == nil && len(c.Dataplane.Interfaces) > 0 {
			t.Fatalf("CheckHost found no missing interface")
		}
	})
}
