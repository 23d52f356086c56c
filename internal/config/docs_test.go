package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const docPath = "../../docs/config.md"

// TestDocsCoverEveryKey checks that docs/config.md mentions every TOML key
// of the schema, aliases included.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		if seen[rt] || rt.Kind() != reflect.Struct || isLeafType(rt) {
			return
		}
		seen[rt] = true
		for name, f := range fieldsOf(rt) {
			// As a key (`name`) or in a table header ([name], [a.name]).
			re := regexp.MustCompile("[`.\\[]" + regexp.QuoteMeta(name) + "[`\\]]")
			if !re.Match(doc) {
				t.Errorf("docs/config.md does not mention `%s` (%s)", name, rt.Name())
			}
			ft := rt.FieldByIndex(f.index).Type
			for ft.Kind() == reflect.Slice && !isLeafType(ft) {
				ft = ft.Elem()
			}
			walk(ft)
		}
	}
	walk(reflect.TypeFor[Config]())
	if len(seen) < 15 {
		t.Errorf("walked only %d struct types", len(seen))
	}
}

// TestDocsExampleIsSeed checks that the example in docs/config.md is the
// seed translation the tests load.
func TestDocsExampleIsSeed(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no toml example in docs/config.md")
	}
	got, err := Parse("config.md", []byte(example))
	if err != nil {
		t.Fatalf("docs example: %v", err)
	}
	want, err := Load("testdata/seed.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Errorf("docs example differs from testdata/seed.toml")
	}
}
