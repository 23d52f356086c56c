package keepalived

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The importer writes TOML text itself rather than through config.Marshal,
// so that it can keep the operator's comments next to what they describe and
// leave "# xlb:" notes where something was not imported. Import checks the
// result with config.Parse.

// table is one TOML table of the output:
//
//	lead comments
//	[header] or [[header]]   # comment
//	items, in order
//	sub-tables
//	tail comments
type table struct {
	header  string // "" for the document's top, which has no header
	array   bool
	origin  Pos
	lead    []string // comment lines, each starting with '#'
	comment string   // comment after the header, starting with '#'
	items   []*item
	subs    []*table
	tail    []string
	keys    map[string]*item // items by key; an entry is stale once its item's key changes
}

// item is a key = value line of a table, or (key "") only comments.
type item struct {
	key     string
	value   string // a TOML literal; for arrays see elems
	array   bool
	elems   []elem
	lead    []string
	comment string
	origin  Pos
}

// elem is one element of an array value, on its own line when the array
// carries comments. An elem without value is a left-out element: only its
// comments are written.
type elem struct {
	value   string
	lead    []string
	comment string
	origin  Pos
}

// add appends an item to t and returns it.
func (t *table) add(it *item) *item {
	t.items = append(t.items, it)
	if it.key != "" {
		if t.keys == nil {
			t.keys = map[string]*item{}
		}
		t.keys[it.key] = it
	}
	return it
}

// get returns the item with key, or nil.
func (t *table) get(key string) *item {
	if it := t.keys[key]; it != nil && it.key == key {
		return it
	}
	return nil
}

// outLine is a rendered line and the input position it came from.
type outLine struct {
	text   string
	origin Pos
	item   *item // the key = value line's item, for finding array elements
}

// render writes the tables in order.
func render(tables []*table) []outLine {
	var out []outLine
	for _, t := range tables {
		out = t.render(out)
	}
	return out
}

func (t *table) render(out []outLine) []outLine {
	if t.header == "" && len(t.items) == 0 && len(t.subs) == 0 && len(t.lead) == 0 && len(t.tail) == 0 {
		return out
	}
	if len(out) > 0 {
		out = append(out, outLine{origin: t.origin})
	}
	for _, c := range t.lead {
		out = append(out, outLine{text: c, origin: t.origin})
	}
	if t.header != "" {
		h := "[" + t.header + "]"
		if t.array {
			h = "[" + h + "]"
		}
		out = append(out, outLine{text: withComment(h, t.comment), origin: t.origin})
	}
	for _, it := range t.items {
		out = it.render(out)
	}
	for _, s := range t.subs {
		out = s.render(out)
	}
	for _, c := range t.tail {
		out = append(out, outLine{text: c, origin: t.origin})
	}
	return out
}

func (it *item) render(out []outLine) []outLine {
	for _, c := range it.lead {
		out = append(out, outLine{text: c, origin: it.origin})
	}
	if it.key == "" {
		return out
	}
	if !it.array {
		return append(out, outLine{withComment(it.key+" = "+it.value, it.comment), it.origin, it})
	}
	multi := false
	width := len(it.key) + 5
	for _, e := range it.elems {
		width += len(e.value) + 2
		if len(e.lead) > 0 || e.comment != "" || e.value == "" {
			multi = true
		}
	}
	if !multi && width <= 100 {
		vals := make([]string, len(it.elems))
		for i, e := range it.elems {
			vals[i] = e.value
		}
		return append(out, outLine{withComment(it.key+" = ["+strings.Join(vals, ", ")+"]", it.comment), it.origin, it})
	}
	out = append(out, outLine{withComment(it.key+" = [", it.comment), it.origin, it})
	for _, e := range it.elems {
		origin := e.origin
		if origin.File == "" {
			origin = it.origin
		}
		for _, c := range e.lead {
			out = append(out, outLine{text: "  " + c, origin: origin})
		}
		if e.value == "" {
			// Left out: only its comments remain.
			if e.comment != "" {
				out = append(out, outLine{text: "  " + e.comment, origin: origin})
			}
			continue
		}
		out = append(out, outLine{text: withComment("  "+e.value+",", e.comment), origin: origin})
	}
	return append(out, outLine{text: "]", origin: it.origin})
}

func withComment(s, comment string) string {
	if comment == "" {
		return s
	}
	return s + "  " + comment
}

// opComment turns the text of an operator's comment (what followed '#' or
// '!') into a TOML comment line.
func opComment(text string) string {
	return "#" + commentText(text)
}

// noteComment is a comment of the importer's own.
func noteComment(format string, args ...any) string {
	return "# xlb: " + commentText(fmt.Sprintf(format, args...))
}

// commentText makes s safe in a TOML comment: valid UTF-8 without control
// characters other than tab.
func commentText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// opComments converts a node's comment lines.
func opComments(texts []string) []string {
	out := make([]string, 0, len(texts))
	for _, t := range texts {
		out = append(out, opComment(t))
	}
	return out
}

// trailingComment converts a node's end-of-line comment, if any.
func trailingComment(text string) string {
	if text == "" {
		return ""
	}
	return opComment(text)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlInt writes an integer.
func tomlInt(n int64) string { return strconv.FormatInt(n, 10) }

// tomlBool writes a boolean.
func tomlBool(b bool) string { return strconv.FormatBool(b) }

// tomlSeconds writes a number of seconds as config.Duration reads it: an
// integer when whole, else a float.
func tomlSeconds(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// stringArray builds array elements from plain strings.
func stringElems(vals []string) []elem {
	out := make([]elem, len(vals))
	for i, v := range vals {
		out[i] = elem{value: tomlString(v)}
	}
	return out
}

// validUTF8 reports whether s can be written to TOML unchanged.
func validUTF8(s string) bool { return utf8.ValidString(s) }
