package config

import (
	"maps"
	"slices"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestLocate(t *testing.T) {
	const doc = `# comment line 1
top = 1
[global]
router_id = "lb1" # trailing comment
"quoted.key" = 'x'
dotted.inner.leaf = true

[[virtual_server]]
address = "203.0.113.10"
[[virtual_server.real_server]]
address = "192.0.2.100"
[[virtual_server.real_server.http_get]]
url = [
  { path = "/a", status_code = [200,
     "300-399"] },
  # a comment between elements
  {path="/b"},
]
[[virtual_server.real_server.http_get]]
[[virtual_server.real_server.http_get.url]]
path = "/c"
[[virtual_server.real_server]]
address = "192.0.2.101"
[virtual_server.sub]
x = 1

[[virtual_server]]
address = """multi
line "" string ]
"""
notes = '''also
multi'''
[[virtual_server.real_server]]
auth = { a = 1, b = { c = "}" } }
when = 1979-05-27 07:32:00Z
list = [ [1, 2], [3] ]
after = "x"
[gateway]
"k\u0041y" = { a = 1,
  b = 2,
}
`
	want := map[string]int{
		"top":                                                      2,
		"global":                                                   3,
		"global.router_id":                                         4,
		`global."quoted.key"`:                                      5,
		"global.dotted":                                            6,
		"global.dotted.inner":                                      6,
		"global.dotted.inner.leaf":                                 6,
		"virtual_server":                                           8,
		"virtual_server[0]":                                        8,
		"virtual_server[0].address":                                9,
		"virtual_server[0].real_server":                            10,
		"virtual_server[0].real_server[0]":                         10,
		"virtual_server[0].real_server[0].address":                 11,
		"virtual_server[0].real_server[0].http_get":                12,
		"virtual_server[0].real_server[0].http_get[0]":             12,
		"virtual_server[0].real_server[0].http_get[0].url":         13,
		"virtual_server[0].real_server[0].http_get[0].url[0]":      14,
		"virtual_server[0].real_server[0].http_get[0].url[0].path": 14,
		"virtual_server[0].real_server[0].http_get[0].url[0].status_code":    14,
		"virtual_server[0].real_server[0].http_get[0].url[0].status_code[0]": 14,
		"virtual_server[0].real_server[0].http_get[0].url[0].status_code[1]": 15,
		"virtual_server[0].real_server[0].http_get[0].url[1]":                17,
		"virtual_server[0].real_server[0].http_get[0].url[1].path":           17,
		"virtual_server[0].real_server[0].http_get[1]":                       19,
		"virtual_server[0].real_server[0].http_get[1].url":                   20,
		"virtual_server[0].real_server[0].http_get[1].url[0]":                20,
		"virtual_server[0].real_server[0].http_get[1].url[0].path":           21,
		"virtual_server[0].real_server[1]":                                   22,
		"virtual_server[0].real_server[1].address":                           23,
		"virtual_server[0].sub":                                              24,
		"virtual_server[0].sub.x":                                            25,
		"virtual_server[1]":                                                  27,
		"virtual_server[1].address":                                          28,
		"virtual_server[1].notes":                                            31,
		"virtual_server[1].real_server":                                      33,
		"virtual_server[1].real_server[0]":                                   33,
		"virtual_server[1].real_server[0].auth":                              34,
		"virtual_server[1].real_server[0].auth.a":                            34,
		"virtual_server[1].real_server[0].auth.b":                            34,
		"virtual_server[1].real_server[0].auth.b.c":                          34,
		"virtual_server[1].real_server[0].when":                              35,
		"virtual_server[1].real_server[0].list":                              36,
		"virtual_server[1].real_server[0].list[0]":                           36,
		"virtual_server[1].real_server[0].list[0][1]":                        36,
		"virtual_server[1].real_server[0].list[1][0]":                        36,
		"virtual_server[1].real_server[0].after":                             37,
		"gateway":                                                            38,
		"gateway.kAy":                                                        39,
		"gateway.kAy.a":                                                      39,
		"gateway.kAy.b":                                                      40,
	}
	var tree map[string]any
	if _, err := toml.Decode(doc, &tree); err != nil {
		t.Fatalf("test document is not valid TOML: %v", err)
	}
	got := locate(doc)
	for key, line := range want {
		if got[key] != line {
			t.Errorf("line of %s = %d, want %d", key, got[key], line)
		}
	}
	// Nothing beyond what the document defines.
	for _, key := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[key]; !ok && !isListElem(key) {
			t.Errorf("unexpected key %s (line %d)", key, got[key])
		}
	}
}

// isListElem allows the elements of the test's list of lists not spelled
// out in want.
func isListElem(key string) bool {
	return len(key) > len("virtual_server[1].real_server[0].list") &&
		key[:len("virtual_server[1].real_server[0].list")] == "virtual_server[1].real_server[0].list"
}

func TestLocateCRLF(t *testing.T) {
	got := locate("[global]\r\nrouter_id = \"x\"\r\n\r\n[[vrrp_instance]]\r\nname = \"a\"\r\n")
	want := map[string]int{"global": 1, "global.router_id": 2, "vrrp_instance": 4, "vrrp_instance[0]": 4, "vrrp_instance[0].name": 5}
	if !maps.Equal(got, want) {
		t.Errorf("locate = %v, want %v", got, want)
	}
}

func TestLocateJunkTerminates(t *testing.T) {
	// Not valid TOML: the locator must neither panic nor loop.
	for _, doc := range []string{
		"[", "[[", "a", "a =", "a = [", "a = {", `a = "`, "a = '''", `a = """x`,
		"[a.]\nb = 1", "= 1", "a = [1 2]", "a = {b 1}", "a = [,]", "a.\"b", "\x00\xff",
		"a = 1979-05-27 ", "a = [{b = 1}, {c = }]",
	} {
		locate(doc)
	}
}

func TestParentKey(t *testing.T) {
	for key, want := range map[string]string{
		"a":                    "",
		"a.b":                  "a",
		"a[0]":                 "a",
		"a[0].b[12]":           "a[0].b",
		`a."x.y"`:              "a",
		`a."x.y".z`:            `a."x.y"`,
		`a."q\"."`:             "a",
		"virtual_server[3].rs": "virtual_server[3]",
	} {
		if got := parentKey(key); got != want {
			t.Errorf("parentKey(%q) = %q, want %q", key, got, want)
		}
	}
	if got := joinKey("a", "x.y"); got != `a."x.y"` {
		t.Errorf("joinKey quotes non-bare keys: got %s", got)
	}
}
