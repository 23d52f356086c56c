package config

import (
	"strconv"
	"strings"
)

// Key paths name a value in the document the way error messages show it:
// table keys joined with dots, array elements with [i], keys that are not
// bare TOML keys quoted, e.g. `virtual_server[0].real_server[1].http_get[0].url[0].path`.

// joinKey appends the table key name to the path parent.
func joinKey(parent, name string) string {
	if !isBareKey(name) {
		name = strconv.Quote(name)
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// indexKey appends an array index to the path parent.
func indexKey(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentKey strips the last element (".name" or "[i]") off a path; it
// returns "" for a top-level key.
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i > 0 {
			return key[:i]
		}
		return ""
	}
	// The last '.' outside quotes separates the parent from the last name.
	inQuote, cut := false, -1
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case '.':
			if !inQuote {
				cut = i
			}
		}
	}
	if cut < 0 {
		return ""
	}
	return key[:cut]
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// locate maps every key path in a TOML document to the 1-based line where it
// is defined: keys of key/value pairs, table headers ([a.b], [[a]] with the
// element index), intermediate tables of dotted keys, elements of arrays
// (including inline tables inside them) and keys of inline tables. The first
// definition wins. BurntSushi/toml records key positions but does not export
// them; this small scanner recovers them from the text.
//
// The scanner is meant for documents the TOML parser has accepted. On
// anything it does not understand it skips to the next line; it never panics
// and always terminates.
func locate(text string) map[string]int {
	l := &locator{s: text, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	l.run()
	return l.lines
}

type locator struct {
	s      string
	pos    int
	line   int
	lines  map[string]int // key path → line
	arrays map[string]int // resolved path of an array of tables → elements seen
	table  string         // resolved path of the current table
}

func (l *locator) record(key string, line int) {
	if _, ok := l.lines[key]; !ok {
		l.lines[key] = line
	}
}

func (l *locator) eof() bool { return l.pos >= len(l.s) }

func (l *locator) peek() byte {
	if l.pos < len(l.s) {
		return l.s[l.pos]
	}
	return 0
}

// next consumes one byte, counting lines.
func (l *locator) next() {
	if l.pos < len(l.s) {
		if l.s[l.pos] == '\n' {
			l.line++
		}
		l.pos++
	}
}

func (l *locator) skipSpace() {
	for c := l.peek(); c == ' ' || c == '\t'; c = l.peek() {
		l.next()
	}
}

// skipLine consumes everything up to and including the next newline.
func (l *locator) skipLine() {
	for !l.eof() && l.peek() != '\n' {
		l.next()
	}
	l.next()
}

// skipBlank consumes whitespace, newlines and comments.
func (l *locator) skipBlank() {
	for !l.eof() {
		switch l.peek() {
		case ' ', '\t', '\r', '\n':
			l.next()
		case '#':
			for !l.eof() && l.peek() != '\n' {
				l.next()
			}
		default:
			return
		}
	}
}

func (l *locator) run() {
	for !l.eof() {
		l.skipSpace()
		switch l.peek() {
		case 0:
			if l.eof() {
				return
			}
			l.skipLine()
			continue
		case '\r', '\n', '#':
			l.skipLine()
			continue
		case '[':
			l.header()
		default:
			l.keyValue(l.table)
		}
		// Whatever follows on the line (a comment, or junk) is skipped.
		l.skipLine()
	}
}

// header handles [a.b] and [[a.b]].
func (l *locator) header() {
	line := l.line
	l.next()
	array := l.peek() == '['
	if array {
		l.next()
	}
	keys, ok := l.keys()
	if !ok || len(keys) == 0 {
		return
	}
	path := ""
	for i, k := range keys {
		path = joinKey(path, k)
		last := i == len(keys)-1
		if last && array {
			l.record(path, line)
			n := l.arrays[path]
			l.arrays[path] = n + 1
			path = indexKey(path, n)
			l.record(path, line)
			break
		}
		l.record(path, line)
		if n, ok := l.arrays[path]; ok && n > 0 {
			path = indexKey(path, n-1)
		}
	}
	l.table = path
}

// keys reads a dotted key (a . "b" . 'c') and stops before '=' or ']'.
func (l *locator) keys() ([]string, bool) {
	var keys []string
	for {
		l.skipSpace()
		k, ok := l.key()
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
		l.skipSpace()
		if l.peek() != '.' {
			return keys, true
		}
		l.next()
	}
}

func (l *locator) key() (string, bool) {
	switch l.peek() {
	case '"':
		raw, ok := l.basicString()
		if !ok {
			return "", false
		}
		return unescape(raw[1 : len(raw)-1]), true
	case '\'':
		raw, ok := l.literalString()
		if !ok {
			return "", false
		}
		return raw[1 : len(raw)-1], true
	}
	start := l.pos
	for !l.eof() {
		c := l.peek()
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			break
		}
		l.next()
	}
	if l.pos == start {
		return "", false
	}
	return l.s[start:l.pos], true
}

// keyValue handles `a.b = value` relative to table.
func (l *locator) keyValue(table string) bool {
	line := l.line
	keys, ok := l.keys()
	if !ok {
		return false
	}
	path := table
	for _, k := range keys {
		path = joinKey(path, k)
		l.record(path, line)
	}
	l.skipSpace()
	if l.peek() != '=' {
		return false
	}
	l.next()
	l.skipSpace()
	return l.value(path)
}

// value consumes one value; elements of arrays and keys of inline tables are
// recorded under path.
func (l *locator) value(path string) bool {
	switch c := l.peek(); c {
	case '"':
		if strings.HasPrefix(l.s[l.pos:], `"""`) {
			return l.multiline(`"""`, true)
		}
		_, ok := l.basicString()
		return ok
	case '\'':
		if strings.HasPrefix(l.s[l.pos:], `'''`) {
			return l.multiline(`'''`, false)
		}
		_, ok := l.literalString()
		return ok
	case '[':
		return l.array(path)
	case '{':
		return l.inlineTable(path)
	case 0, '\n', '\r', ',', ']', '}', '#':
		return false
	default:
		l.scalar()
		return true
	}
}

func (l *locator) array(path string) bool {
	l.next() // [
	for i := 0; ; i++ {
		l.skipBlank()
		if l.eof() {
			return false
		}
		if l.peek() == ']' {
			l.next()
			return true
		}
		elem := indexKey(path, i)
		l.record(elem, l.line)
		start := l.pos
		if !l.value(elem) || l.pos == start {
			return false
		}
		l.skipBlank()
		switch l.peek() {
		case ',':
			l.next()
		case ']':
			l.next()
			return true
		default:
			return false
		}
	}
}

func (l *locator) inlineTable(path string) bool {
	l.next() // {
	for {
		l.skipBlank()
		if l.eof() {
			return false
		}
		if l.peek() == '}' {
			l.next()
			return true
		}
		start := l.pos
		if !l.keyValue(path) || l.pos == start {
			return false
		}
		l.skipBlank()
		switch l.peek() {
		case ',':
			l.next()
		case '}':
			l.next()
			return true
		default:
			return false
		}
	}
}

// basicString consumes a single-line "..." string and returns it with quotes.
func (l *locator) basicString() (string, bool) {
	start := l.pos
	l.next()
	for !l.eof() {
		switch l.peek() {
		case '\\':
			l.next()
			if l.peek() == '\n' {
				return "", false
			}
			l.next()
		case '"':
			l.next()
			return l.s[start:l.pos], true
		case '\n':
			return "", false
		default:
			l.next()
		}
	}
	return "", false
}

// literalString consumes a single-line '...' string and returns it with quotes.
func (l *locator) literalString() (string, bool) {
	start := l.pos
	l.next()
	for !l.eof() {
		switch l.peek() {
		case '\'':
			l.next()
			return l.s[start:l.pos], true
		case '\n':
			return "", false
		default:
			l.next()
		}
	}
	return "", false
}

// multiline consumes a """...""" or ”'...”' string. Up to two extra quote
// characters before the closing delimiter belong to the string.
func (l *locator) multiline(delim string, escapes bool) bool {
	for range 3 {
		l.next()
	}
	for !l.eof() {
		if escapes && l.peek() == '\\' {
			l.next()
			l.next()
			continue
		}
		if strings.HasPrefix(l.s[l.pos:], delim) {
			for range 3 {
				l.next()
			}
			for range 2 {
				if l.peek() == delim[0] {
					l.next()
				}
			}
			return true
		}
		l.next()
	}
	return false
}

// scalar consumes a number, boolean or date-time.
func (l *locator) scalar() {
	start := l.pos
	l.scalarToken()
	// A date and a time may be separated by a space: 1979-05-27 07:32:00.
	tok := l.s[start:l.pos]
	if len(tok) == 10 && tok[4] == '-' && tok[7] == '-' &&
		l.pos+1 < len(l.s) && l.s[l.pos] == ' ' && l.s[l.pos+1] >= '0' && l.s[l.pos+1] <= '9' {
		l.next()
		l.scalarToken()
	}
}

func (l *locator) scalarToken() {
	for !l.eof() {
		switch l.peek() {
		case ' ', '\t', '\r', '\n', ',', ']', '}', '#':
			return
		}
		l.next()
	}
}

// unescape resolves the escapes of a TOML basic string; an invalid escape is
// kept as written.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(c)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+n < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
