package spec

import (
	"sort"
	"strings"
)

// FieldError is one problem with a spec, at a field path such as
// plexes[0].nodes[1].indices.
type FieldError struct {
	// Field is the path of the offending field, in the spelling of the YAML
	// file: plexes[0].nodeSubnet, plexes[1].limits.kube.memory.
	Field string
	// Message says what is wrong and, when known, what to write instead.
	Message string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ErrorList is every problem found in a spec, in file order. Load and Validate
// return it (possibly wrapped) so that a user fixes a file in one go instead of
// one error per run; use errors.As to get at the fields.
type ErrorList []FieldError

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Fields returns the sorted, de-duplicated field paths of the list.
func (l ErrorList) Fields() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range l {
		if !seen[e.Field] {
			seen[e.Field] = true
			out = append(out, e.Field)
		}
	}
	sort.Strings(out)
	return out
}
