package keepalived

import (
	"errors"
	"fmt"
)

// Pos is a place in the configuration files: the file as it was named (the
// path given for the main file, the resolved path for included ones) and a
// 1-based line.
type Pos struct {
	File string
	Line int
}

// String formats p as FILE:LINE, or FILE when the line is unknown.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is one problem with the input: a syntax error, an unknown keyword or
// block, or a value keepalived itself would reject.
type Error struct {
	Pos     Pos
	Keyword string // the keyword the problem is about; empty when none
	Msg     string // what is wrong and what was expected
}

// Error formats the problem as FILE:LINE: KEYWORD: MSG.
func (e *Error) Error() string {
	s := e.Msg
	if e.Keyword != "" {
		s = e.Keyword + ": " + s
	}
	if e.Pos.File != "" {
		s = e.Pos.String() + ": " + s
	}
	return s
}

// Errors unpacks an error returned by this package into its problems, in
// the order they were found. An error that is not an *Error (an I/O error,
// say) comes back as an Error with only Msg set.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return []*Error{{Msg: err.Error()}}
}

// joinErrors joins errs with errors.Join, or returns nil for none.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// Severity says whether a finding makes an import incomplete.
type Severity int

const (
	// Unsupported: the input says something the output cannot say; the
	// output carries a "# xlb: not imported" comment in its place.
	// xlbctl import-keepalived --strict fails on these.
	Unsupported Severity = iota
	// Warning: the output says the same thing as the input, but differently
	// from how it is written (a value keepalived would round or ignore, a
	// setting inferred), or keepalived itself would warn about it.
	Warning
)

// Finding is something of the input that the output does not carry as it
// is written. Findings are reported, never dropped.
type Finding struct {
	Pos      Pos
	Keyword  string
	Severity Severity
	Msg      string
}

// String formats f as "FILE:LINE: KEYWORD: not supported (MSG)" for
// unsupported items and "FILE:LINE: KEYWORD: warning: MSG" for warnings.
func (f Finding) String() string {
	if f.Severity == Unsupported {
		return fmt.Sprintf("%s: %s: not supported (%s)", f.Pos, f.Keyword, f.Msg)
	}
	return fmt.Sprintf("%s: %s: warning: %s", f.Pos, f.Keyword, f.Msg)
}
