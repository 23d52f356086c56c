package keepalived

import (
	"fmt"
	"strings"
)

// Node is one keyword line of a keepalived configuration, with the block
// that follows it, if any.
type Node struct {
	Pos     Pos
	Keyword string
	Args    []string // the words after the keyword, quotes removed
	// Raw is the whole line after substitution, for keywords that keepalived
	// reads again with its own quoting rules (scripts).
	Raw string
	// Comments are the comment lines just before the keyword (without the
	// '#' or '!'); Comment is the one at the end of its line.
	Comments []string
	Comment  string
	// HasBlock is set when a {…} block follows; Block holds its lines.
	HasBlock bool
	Block    []*Node
	// End is where the block's '}' is; EndComments are the comment lines
	// before it.
	End         Pos
	EndComments []string
}

// File is a parsed keepalived configuration, includes read into it.
type File struct {
	Nodes []*Node
	// Comments are the comment lines after the last keyword.
	Comments []string
	// Findings are what the parser could not follow (sequence blocks,
	// includes that match no file, …).
	Findings []Finding
}

// ParseFile reads the keepalived configuration at path, following its
// includes. See Parse.
func ParseFile(path string, opts Options) (*File, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	data, err := fsys.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keepalived configuration: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse parses data, the keepalived configuration file name, the way
// keepalived reads it: '#' and '!' comments, double-quoted words, blocks in
// braces, include (with globs and {a,b} braces, relative to the including
// file), $NAME=VALUE definitions (multiline with trailing backslashes) and
// $NAME / ${NAME} substitution, and @NAME / @^NAME conditional lines chosen
// by opts.Instance. A trailing backslash elsewhere joins the next line.
//
// Every problem is reported, joined with errors.Join, each as an *Error
// with the file and line: unbalanced braces, unterminated quotes, includes
// nested too deep. The File then holds only the findings, which may explain
// the errors (a ~SEQ line left out, say). Parse does not know keywords;
// Convert does.
func Parse(name string, data []byte, opts Options) (*File, error) {
	r := newReader(opts)
	r.push(name, data, 0)
	lines := r.read()
	f, errs := build(lines, r.comments)
	f.Findings = r.findings
	if err := joinErrors(append(r.errs, errs...)); err != nil {
		return &File{Findings: r.findings}, err
	}
	return f, nil
}

// build turns logical lines into the tree of nodes.
func build(lines []line, tail []string) (*File, []error) {
	f := &File{}
	var (
		errs    []error
		stack   []*Node
		last    *Node    // the previous line's node, which a '{' may open
		carried []string // comments on '{' lines, for the next node
	)
	add := func(n *Node) {
		if len(stack) == 0 {
			f.Nodes = append(f.Nodes, n)
		} else {
			top := stack[len(stack)-1]
			top.Block = append(top.Block, n)
		}
	}
	for _, l := range lines {
		comments := append(carried, l.comments...)
		carried = nil
		switch l.text {
		case "{":
			if last == nil || last.HasBlock {
				errs = append(errs, &Error{Pos: l.pos, Msg: "unexpected '{' (expected it after a keyword that takes a block)"})
				last = nil
				continue
			}
			last.HasBlock = true
			if l.trailing != "" && last.Comment == "" {
				last.Comment = l.trailing
			} else if l.trailing != "" {
				comments = append(comments, l.trailing)
			}
			stack = append(stack, last)
			carried = comments
			last = nil
		case "}":
			last = nil
			if len(stack) == 0 {
				errs = append(errs, &Error{Pos: l.pos, Msg: "unexpected '}' (no block is open)"})
				continue
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			top.End = l.pos
			top.EndComments = comments
			if l.trailing != "" {
				top.EndComments = append(top.EndComments, l.trailing)
			}
		default:
			toks, err := tokenize(l.text)
			if err != nil {
				errs = append(errs, &Error{Pos: l.pos, Msg: err.Error()})
				last = nil
				continue
			}
			if len(toks) == 0 {
				continue
			}
			n := &Node{Pos: l.pos, Keyword: toks[0], Args: toks[1:], Raw: l.text, Comments: comments, Comment: l.trailing}
			add(n)
			last = n
		}
	}
	if len(stack) > 0 {
		n := stack[len(stack)-1]
		errs = append(errs, &Error{Pos: n.Pos, Keyword: n.Keyword, Msg: "block is not closed (expected '}' before the end of the file)"})
	}
	f.Comments = append(carried, tail...)
	return f, errs
}

// String renders n as keepalived text, one line per keyword, indented, with
// the comments inside its block; used to show what was not imported.
func (n *Node) String() string {
	var b strings.Builder
	n.write(&b, 0)
	return b.String()
}

func (n *Node) write(b *strings.Builder, depth int) {
	indent := strings.Repeat("    ", depth)
	if depth > 0 {
		for _, c := range n.Comments {
			b.WriteString(indent + "#" + c + "\n")
		}
	}
	b.WriteString(indent)
	b.WriteString(n.Line())
	if n.HasBlock {
		b.WriteString(" {")
	}
	if n.Comment != "" && depth > 0 {
		b.WriteString("  #" + n.Comment)
	}
	b.WriteString("\n")
	if n.HasBlock {
		for _, c := range n.Block {
			c.write(b, depth+1)
		}
		for _, c := range n.EndComments {
			b.WriteString(indent + "    #" + c + "\n")
		}
		b.WriteString(indent + "}\n")
	}
}

// Line returns the keyword and its words as one line, quoting words that
// need it.
func (n *Node) Line() string {
	parts := make([]string, 0, 1+len(n.Args))
	for _, w := range append([]string{n.Keyword}, n.Args...) {
		if w == "" || strings.ContainsAny(w, " \t{}#!") {
			w = `"` + w + `"`
		}
		parts = append(parts, w)
	}
	return strings.Join(parts, " ")
}
