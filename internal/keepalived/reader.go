package keepalived

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Limits that keep a malicious or broken configuration from looping or
// growing without bound.
const (
	// DefaultMaxIncludeDepth bounds how deeply includes nest.
	DefaultMaxIncludeDepth = 16
	// DefaultMaxLines bounds the logical lines read, after includes and
	// definitions are expanded.
	DefaultMaxLines = 200000

	maxLineLen        = 64 << 10 // bytes in a line, after substitution
	maxSubstitutions  = 256      // definition references replaced in one line
	maxExpansionDepth = 32       // multiline definitions expanding inside each other
	maxIncludeFiles   = 1000     // files read in all
	maxBraceExpansion = 256      // patterns one include's {a,b} expands to
	maxRecheck        = 8        // rounds of @conditional / $definition after substitution
	maxPattern        = 4096     // bytes in an include pattern (PATH_MAX)
	workPerLine       = 512      // substitution bytes budgeted per allowed line
)

// Options control how a keepalived configuration is read.
type Options struct {
	// Instance is the config id that selects conditional lines, like
	// keepalived's -i: "@NAME line" is read only when NAME is Instance,
	// "@^NAME line" only when it is not. Empty selects no @NAME line.
	Instance string
	// FS reads the files; nil means OSFS.
	FS FS
	// MaxIncludeDepth bounds include nesting; 0 means
	// DefaultMaxIncludeDepth.
	MaxIncludeDepth int
	// MaxLines bounds the logical lines read after expansion; 0 means
	// DefaultMaxLines.
	MaxLines int
}

// line is one logical line: a statement, "{" or "}", with the comments
// that belong to it.
type line struct {
	pos      Pos
	text     string
	comments []string // comment lines before it
	trailing string   // the comment at the end of its physical line
}

// srcFile is one file on the include stack.
type srcFile struct {
	name  string
	dir   string
	lines []string
	next  int // index of the next line to read
	depth int // include depth; 0 for the main file
}

// pendingLine is a line waiting to be processed: a physical line, the rest
// of a line after a brace, or a line of a multiline definition.
type pendingLine struct {
	pos      Pos
	text     string
	cont     bool   // the physical line ended with a backslash
	quote    bool   // … inside a quoted string
	trailing string // comment at the end of the physical line
	dir      string // directory of the file it came from (${_PWD}, includes)
	depth    int    // multiline expansion depth
}

// definition is a $NAME=VALUE parameter.
type definition struct {
	lines     []string // one line, or the lines of a multiline definition
	multiline bool
}

// reader turns files into logical lines the way keepalived's read_line
// does: comments removed, conditional lines selected, definitions recorded
// and substituted, includes followed and braces split off.
type reader struct {
	fsys     FS
	instance string
	maxDepth int
	maxLines int

	files    []*srcFile // include stack, innermost last
	nfiles   int
	pending  []pendingLine // lines to process before reading on; the next one is last
	defs     map[string]*definition
	mdef     *definition // multiline definition being read
	comments []string    // comment lines waiting for the next statement
	nlines   int
	work     int // bytes built by substitution so far
	out      []line

	errs     []error
	findings []Finding
	condNote bool
	stop     bool // a limit was hit
}

func newReader(opts Options) *reader {
	r := &reader{
		fsys:     opts.FS,
		instance: opts.Instance,
		maxDepth: opts.MaxIncludeDepth,
		maxLines: opts.MaxLines,
		defs:     map[string]*definition{},
	}
	if r.fsys == nil {
		r.fsys = OSFS{}
	}
	if r.maxDepth <= 0 {
		r.maxDepth = DefaultMaxIncludeDepth
	}
	if r.maxLines <= 0 {
		r.maxLines = DefaultMaxLines
	}
	return r
}

func (r *reader) errorf(pos Pos, keyword, format string, args ...any) {
	r.errs = append(r.errs, &Error{Pos: pos, Keyword: keyword, Msg: fmt.Sprintf(format, args...)})
}

// fatalf reports an error after which reading stops.
func (r *reader) fatalf(pos Pos, keyword, format string, args ...any) {
	r.errorf(pos, keyword, format, args...)
	r.stop = true
}

func (r *reader) note(pos Pos, keyword string, sev Severity, format string, args ...any) {
	r.findings = append(r.findings, Finding{Pos: pos, Keyword: keyword, Severity: sev, Msg: fmt.Sprintf(format, args...)})
}

// push puts a file on the include stack.
func (r *reader) push(name string, data []byte, depth int) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	r.files = append(r.files, &srcFile{name: name, dir: filepath.Dir(name), lines: lines, depth: depth})
	r.nfiles++
}

// read returns the logical lines of everything pushed.
func (r *reader) read() []line {
	for !r.stop {
		var pl pendingLine
		fromFile := false
		if n := len(r.pending); n > 0 {
			pl = r.pending[n-1]
			r.pending = r.pending[:n-1]
		} else {
			var ok bool
			if pl, ok = r.physical(nil, false); !ok {
				break
			}
			fromFile = true
		}
		if r.mdef != nil {
			if pl.quote {
				r.errorf(pl.pos, "", "unterminated quote in a multiline definition (expected a closing '\"' on the same line)")
				continue
			}
			r.feedDefinition(pl)
			continue
		}
		if fromFile && pl.cont && !isDefinition(stripConditional(pl.text)) {
			pl = r.join(pl)
		}
		if pl.quote {
			r.errorf(pl.pos, "", "unterminated quote (expected a closing '\"')")
			continue
		}
		r.nlines++
		if r.nlines > r.maxLines {
			r.fatalf(pl.pos, "", "more than %d lines after includes and definitions are expanded (a definition or include loop?)", r.maxLines)
			break
		}
		r.process(pl)
	}
	if r.mdef != nil {
		r.endDefinition()
	}
	return r.out
}

// physical returns the next physical line that has text on it, with its
// comment removed; comment-only lines met on the way are collected. With
// only set, it reads no further than the end of that file; inQuote says the
// line continues a quoted string. ok is false at the end of the input.
func (r *reader) physical(only *srcFile, inQuote bool) (pl pendingLine, ok bool) {
	for len(r.files) > 0 {
		f := r.files[len(r.files)-1]
		if only != nil && f != only {
			return pendingLine{}, false
		}
		if f.next >= len(f.lines) {
			if only != nil {
				return pendingLine{}, false
			}
			r.files = r.files[:len(r.files)-1]
			continue
		}
		raw := strings.TrimRight(f.lines[f.next], "\r")
		f.next++
		pos := Pos{File: f.name, Line: f.next}
		if raw == "" {
			// keepalived ends a multiline definition at an empty line.
			if r.mdef != nil {
				r.endDefinition()
			}
			continue
		}
		if len(raw) > maxLineLen {
			r.errorf(pos, "", "line is longer than %d bytes", maxLineLen)
			continue
		}
		text, comment, cont, quote := decomment(raw, inQuote)
		if quote && !cont {
			r.errorf(pos, "", "unterminated quote (expected a closing '\"')")
			continue
		}
		if text == "" && !cont && !inQuote {
			if comment != "" && r.mdef == nil {
				r.comments = append(r.comments, comment)
			}
			continue
		}
		return pendingLine{pos: pos, text: text, cont: cont, quote: quote, trailing: comment, dir: f.dir}, true
	}
	return pendingLine{}, false
}

// join appends the lines that a trailing backslash continues onto pl.
// keepalived itself continues lines only in $NAME= definitions; elsewhere a
// trailing backslash joins the next line with a blank.
func (r *reader) join(pl pendingLine) pendingLine {
	f := r.files[len(r.files)-1]
	for pl.cont {
		next, ok := r.physical(f, pl.quote)
		if !ok {
			pl.cont = false
			break
		}
		pl.text = strings.TrimRight(pl.text, " \t") + " " + next.text
		pl.cont, pl.quote = next.cont, next.quote
		if pl.trailing == "" {
			pl.trailing = next.trailing
		}
		if len(pl.text) > maxLineLen {
			r.errorf(pl.pos, "", "continued line is longer than %d bytes", maxLineLen)
			pl.text = ""
			pl.cont = false
		}
	}
	return pl
}

// decomment removes the comment from a physical line the way keepalived
// does: '#' and '!' outside double quotes start a comment, "\#" and "\!"
// stand for the characters themselves, and a backslash ending the line
// continues it (cont). text is trimmed; comment is what followed the
// comment character. inQuote says the line starts inside a quoted string
// (a continued line); quote says it ends inside one.
func decomment(raw string, inQuote bool) (text, comment string, cont, quote bool) {
	s := strings.TrimLeft(raw, " \t")
	var b strings.Builder
	quote = inQuote
scan:
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
			b.WriteByte(c)
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				break scan
			}
			n := s[i+1]
			if !quote && (n == '#' || n == '!') {
				b.WriteByte(n)
			} else {
				b.WriteByte(c)
				b.WriteByte(n)
			}
			i++
		case !quote && (c == '#' || c == '!'):
			comment = strings.TrimRight(s[i+1:], " \t")
			break scan
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimRight(b.String(), " \t"), comment, cont, quote
}

// stripConditional returns text without a leading "@NAME " or "@^NAME ".
func stripConditional(text string) string {
	if !strings.HasPrefix(text, "@") {
		return text
	}
	i := strings.IndexAny(text, " \t")
	if i < 0 {
		return ""
	}
	return strings.TrimLeft(text[i:], " \t")
}

// isDefinition reports whether text is a $NAME=VALUE definition.
func isDefinition(text string) bool {
	_, _, ok := parseDefinition(text)
	return ok
}

// parseDefinition splits "$NAME=VALUE". keepalived allows no blank before
// the '='; the value starts after the blanks following it.
func parseDefinition(text string) (name, value string, ok bool) {
	if len(text) < 3 || text[0] != '$' || !isNameStart(text[1]) {
		return "", "", false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	if i >= len(text) || text[i] != '=' {
		return "", "", false
	}
	return text[1:i], strings.TrimLeft(text[i+1:], " \t"), true
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

// feedDefinition adds a line to the multiline definition being read; a line
// without a trailing backslash is its last.
func (r *reader) feedDefinition(pl pendingLine) {
	if text := strings.TrimRight(pl.text, " \t"); text != "" {
		r.mdef.lines = append(r.mdef.lines, text)
	}
	if !pl.cont {
		r.endDefinition()
	}
}

func (r *reader) endDefinition() {
	if len(r.mdef.lines) == 0 {
		r.mdef.lines = []string{""}
		r.mdef.multiline = false
	}
	r.mdef = nil
}

// process runs one line through conditionals, definitions, substitution,
// includes and brace splitting, appending what results to r.out.
func (r *reader) process(pl pendingLine) {
	text := pl.text
	for round := 0; ; round++ {
		if round > maxRecheck {
			r.errorf(pl.pos, "", "substitution keeps producing conditional lines or definitions")
			return
		}
		if strings.HasPrefix(text, "@") {
			rest, ok := r.conditional(text, pl.pos)
			if !ok {
				return
			}
			text = rest
		}
		if name, value, ok := parseDefinition(text); ok {
			if pl.trailing != "" {
				// The definition's comment goes with the next keyword.
				r.comments = append(r.comments, pl.trailing)
			}
			d := &definition{}
			if pl.cont {
				d.multiline = true
				if value = strings.TrimRight(value, " \t"); value != "" {
					d.lines = []string{value}
				}
				r.mdef = d
			} else {
				d.lines = []string{value}
			}
			r.defs[name] = d
			return
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			r.note(pl.pos, text[:4], Unsupported, "sequence and list blocks are not expanded by the importer; write the lines out")
			return
		}
		if strings.HasPrefix(text, "~") || !strings.Contains(text, "$") {
			break
		}
		out, rest, changed := r.substitute(text, pl)
		if !changed {
			break
		}
		text = out
		if len(rest) > 0 {
			if pl.depth+1 > maxExpansionDepth {
				r.fatalf(pl.pos, "", "multiline definitions nest deeper than %d (a definition that expands to itself?)", maxExpansionDepth)
				return
			}
			// The lines of the latest expansion come first: push the
			// earlier expansions' lines first, each in reverse.
			for i := range rest {
				part := rest[i]
				for j := len(part) - 1; j >= 0; j-- {
					r.pending = append(r.pending, pendingLine{pos: pl.pos, text: part[j], dir: pl.dir, depth: pl.depth + 1})
				}
			}
			if len(r.pending) > r.maxLines {
				r.fatalf(pl.pos, "", "definitions expand to more than %d lines (a definition that expands to itself?)", r.maxLines)
				return
			}
		}
		if !strings.HasPrefix(text, "@") && !isDefinition(text) {
			break
		}
	}
	text = strings.Trim(text, " \t")
	if text == "" {
		return
	}
	if r.include(text, pl) {
		return
	}
	i := braceIndex(text)
	var residue string
	switch {
	case i < 0:
	case i == 0:
		residue = strings.Trim(text[1:], " \t")
		text = text[:1]
	default:
		residue = text[i:]
		text = strings.TrimRight(text[:i], " \t")
	}
	r.out = append(r.out, line{pos: pl.pos, text: text, comments: r.comments, trailing: pl.trailing})
	r.comments = nil
	if residue != "" {
		r.pending = append(r.pending, pendingLine{pos: pl.pos, text: residue, dir: pl.dir, depth: pl.depth})
	}
}

// conditional applies a "@NAME" or "@^NAME" prefix: it returns the rest of
// the line and whether the line is selected.
func (r *reader) conditional(text string, pos Pos) (string, bool) {
	rev := strings.HasPrefix(text, "@^")
	off := 1
	if rev {
		off = 2
	}
	i := strings.IndexAny(text[off:], " \t")
	if i < 0 {
		return "", false // nothing after the id: keepalived drops the line
	}
	if r.instance == "" && !r.condNote {
		r.condNote = true
		r.note(pos, text[:off+i], Warning, "conditional lines are selected for no instance name; keepalived uses the host name when -i is not given, so pass the instance name (--instance)")
	}
	match := r.instance != "" && text[off:off+i] == r.instance
	if match == rev {
		return "", false
	}
	return strings.TrimLeft(text[off+i:], " \t"), true
}

// braceIndex returns the index of the first '{' or '}' outside double
// quotes, or -1.
func braceIndex(text string) int {
	if text[0] == '{' || text[0] == '}' {
		return 0
	}
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '{', '}':
			return i
		case '"':
			j := strings.IndexByte(text[i+1:], '"')
			if j < 0 {
				return -1
			}
			i += j + 1
		}
	}
	return -1
}

// reference is a $NAME or ${NAME} in a line.
type reference struct {
	name   string
	params string // ${NAME PARAMS}
	end    int    // index after the reference
}

// parseRef parses the reference starting at the '$' at p.
func parseRef(s string, p int) (reference, bool) {
	i := p + 1
	braces := i < len(s) && s[i] == '{'
	if braces {
		i++
	}
	if i >= len(s) || !isNameStart(s[i]) {
		return reference{}, false
	}
	start := i
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	ref := reference{name: s[start:i]}
	if !braces {
		if i < len(s) && !strings.ContainsRune(" \t,)", rune(s[i])) {
			return reference{}, false
		}
		ref.end = i
		return ref, true
	}
	if i < len(s) && s[i] == ' ' {
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return reference{}, false
		}
		ref.params = strings.TrimSpace(s[i : i+j])
		i += j
	}
	if i >= len(s) || s[i] != '}' {
		return reference{}, false
	}
	ref.end = i + 1
	return ref, true
}

// substitute replaces the defined $NAME and ${NAME} references in text,
// again and again, as keepalived does. A multiline definition, allowed only
// at the end of a line, gives its first line in place and its other lines
// as a part of rest, in the order the expansions happened (the lines of
// the last one are to be read first).
func (r *reader) substitute(text string, pl pendingLine) (out string, rest [][]string, changed bool) {
	out = text
	n := 0
	for i := 0; i < len(out); {
		j := strings.IndexByte(out[i:], '$')
		if j < 0 || i+j+1 >= len(out) {
			break
		}
		p := i + j
		ref, ok := parseRef(out, p)
		if !ok {
			i = p + 1
			continue
		}
		value, more, found := r.lookup(ref, ref.end == len(out), pl)
		if !found {
			i = p + 1
			continue
		}
		if n++; n > maxSubstitutions {
			r.errorf(pl.pos, "$"+ref.name, "more than %d substitutions in one line (a definition that refers to itself?)", maxSubstitutions)
			return text, nil, false
		}
		out = out[:p] + value + out[ref.end:]
		if r.work += len(out); r.work > r.maxLines*workPerLine {
			r.fatalf(pl.pos, "$"+ref.name, "definitions expand to more than %d bytes (a definition that grows without end?)", r.maxLines*workPerLine)
			return text, nil, false
		}
		if len(out) > maxLineLen {
			r.errorf(pl.pos, "$"+ref.name, "line grows longer than %d bytes by substitution", maxLineLen)
			return text, nil, false
		}
		if len(more) > 0 {
			rest = append(rest, more)
		}
		changed = true
		i = p
	}
	return out, rest, changed
}

// lookup resolves a reference: a definition of the file, or one of
// keepalived's predefined ones.
func (r *reader) lookup(ref reference, atEnd bool, pl pendingLine) (value string, more []string, found bool) {
	if d, ok := r.defs[ref.name]; ok {
		if ref.params != "" || d.multiline && !atEnd {
			return "", nil, false
		}
		return d.lines[0], d.lines[1:], true
	}
	switch ref.name {
	case "_PWD":
		dir := pl.dir
		if _, isOS := r.fsys.(OSFS); isOS {
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
		}
		return dir, nil, true
	case "_INSTANCE":
		if r.instance == "" {
			r.note(pl.pos, "${_INSTANCE}", Warning, "replaced by an empty instance name; keepalived uses the host name when -i is not given, so pass the instance name (--instance)")
		}
		return r.instance, nil, true
	case "_HASH":
		return "#", nil, true
	case "_BANG":
		return "!", nil, true
	case "_RANDOM":
		low := "0"
		if f := strings.Fields(ref.params); len(f) > 0 {
			low = f[0]
		}
		r.note(pl.pos, "${_RANDOM}", Unsupported, "keepalived picks a random number; the importer wrote %s, the lowest it could pick", low)
		return low, nil, true
	case "_ENV":
		r.note(pl.pos, "${_ENV}", Unsupported, "the importer does not know keepalived's environment on the director; it wrote nothing for %s", ref.params)
		return "", nil, true
	}
	return "", nil, false
}

// include follows an include line; it reports whether text was one.
func (r *reader) include(text string, pl pendingLine) bool {
	word, _, _ := strings.Cut(text, " ")
	word, _, _ = strings.Cut(word, "\t")
	switch word {
	case "include", "includer", "includem", "includew", "includeb", "includea":
	default:
		return false
	}
	toks, err := tokenize(text)
	if err != nil {
		r.errorf(pl.pos, word, "%s", err)
		return true
	}
	if len(toks) != 2 {
		r.errorf(pl.pos, word, "expected one file name or pattern, got %d words", len(toks)-1)
		return true
	}
	depth := 0
	if len(r.files) > 0 {
		depth = r.files[len(r.files)-1].depth + 1
	}
	if depth > r.maxDepth {
		r.fatalf(pl.pos, word, "includes nest deeper than %d (a file that includes itself?)", r.maxDepth)
		return true
	}
	pattern := toks[1]
	if len(pattern) > maxPattern {
		r.errorf(pl.pos, word, "file name is longer than %d bytes", maxPattern)
		return true
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(pl.dir, pattern)
	}
	patterns, ok := expandBraces(pattern, maxBraceExpansion)
	if !ok {
		r.errorf(pl.pos, word, "%q expands to more than %d patterns", toks[1], maxBraceExpansion)
		return true
	}
	var names []string
	for _, p := range patterns {
		m, err := r.fsys.Glob(p)
		if err != nil {
			r.errorf(pl.pos, word, "bad pattern %q: %s", toks[1], err)
			return true
		}
		names = append(names, m...)
	}
	if len(names) == 0 {
		r.note(pl.pos, word, Warning, "no file matches %q; keepalived skips the include too", toks[1])
		return true
	}
	type loaded struct {
		name string
		data []byte
	}
	var files []loaded
	for _, name := range names {
		if r.nfiles+len(files) >= maxIncludeFiles {
			r.fatalf(pl.pos, word, "more than %d files included", maxIncludeFiles)
			return true
		}
		data, err := r.fsys.ReadFile(name)
		if err != nil {
			r.note(pl.pos, word, Warning, "cannot read %s (%s); keepalived skips it too", name, err)
			continue
		}
		files = append(files, loaded{name, data})
	}
	// The first match is read first: it goes on top of the stack.
	for i := len(files) - 1; i >= 0; i-- {
		r.push(files[i].name, files[i].data, depth)
	}
	return true
}

// expandBraces expands csh-style {a,b} alternatives, as keepalived's glob
// does with GLOB_BRACE. ok is false when there would be more than limit
// patterns.
func expandBraces(s string, limit int) (out []string, ok bool) {
	open := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return []string{s}, true
	}
	depth := 0
	var commas []int
	closeAt := -1
	for i := open; i < len(s) && closeAt < 0; i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				closeAt = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if closeAt < 0 {
		return []string{s}, true // unbalanced: taken literally
	}
	prefix, suffix := s[:open], s[closeAt+1:]
	bounds := append(append([]int{open}, commas...), closeAt)
	for k := 0; k+1 < len(bounds); k++ {
		alt := s[bounds[k]+1 : bounds[k+1]]
		sub, ok := expandBraces(prefix+alt+suffix, limit-len(out))
		if !ok {
			return nil, false
		}
		out = append(out, sub...)
		if len(out) > limit {
			return nil, false
		}
	}
	return out, true
}

// tokenize splits a logical line into words as keepalived does: blanks
// separate words, and a word starting with '"' runs to the next '"'
// (without escapes), which may hold blanks.
func tokenize(text string) ([]string, error) {
	const blanks = " \t\f\n\r\v"
	var toks []string
	for i := 0; i < len(text); {
		for i < len(text) && strings.IndexByte(blanks, text[i]) >= 0 {
			i++
		}
		if i >= len(text) {
			break
		}
		if text[i] == '"' {
			j := strings.IndexByte(text[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unmatched quote in %q (expected a closing '\"')", text)
			}
			toks = append(toks, text[i+1:i+1+j])
			i += j + 2
			continue
		}
		j := strings.IndexAny(text[i:], blanks+"\"")
		if j < 0 {
			j = len(text) - i
		}
		toks = append(toks, text[i:i+j])
		i += j
	}
	return toks, nil
}
