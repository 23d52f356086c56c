package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Error is one problem found in a configuration: a syntax error, an unknown
// key, a value of the wrong type, or a failed validation rule.
//
// Load, Parse, Validate and CheckHost return every problem they find at once,
// joined with errors.Join; use Errors to get them back as a slice.
type Error struct {
	File string // file name as given to Load or Parse; empty for a Config built in code
	Line int    // 1-based line of the offending key; 0 when unknown
	Key  string // key path with array indices, e.g. "virtual_server[0].real_server[1].weight"
	Msg  string // what is wrong
}

// Error formats the problem as FILE:LINE: KEY: MSG, leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var prefix string
	switch {
	case e.File != "" && e.Line > 0:
		prefix = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		prefix = e.File + ": "
	case e.Line > 0:
		prefix = fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Key != "" {
		return prefix + e.Key + ": " + e.Msg
	}
	return prefix + e.Msg
}

// Errors unpacks an error returned by this package into its individual
// problems, in the order they were reported (by line). Errors that are not
// *Error (for example an I/O error from Load) are returned as an Error with
// only Msg set.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
			return
		}
		out = append(out, &Error{Msg: err.Error()})
	}
	walk(err)
	return out
}

// joinErrors sorts problems by line (unknown lines last, report order kept
// within a line) and joins them; nil when there are none.
func joinErrors(list []*Error) error {
	if len(list) == 0 {
		return nil
	}
	slices.SortStableFunc(list, func(a, b *Error) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Compare(la, lb)
	})
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}
