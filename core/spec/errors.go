package spec

import (
	"fmt"
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
// one error per run; use errors.As to get at the fields. The list always holds
// every problem; only its message is capped (see MaxErrorLines).
type ErrorList []FieldError

// MaxErrorLines is how many problems an ErrorList's message prints. A
// generated spec can have hundreds of thousands of problems, most of them one
// mistake repeated; the first ones are what the user needs to see, and the
// rest are counted in one last line.
const MaxErrorLines = 20

// Error prints one problem per line, at most MaxErrorLines of them, then
// "… and N more problems" when there are more.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == MaxErrorLines {
			more := "problems (often the same mistake repeated)"
			if len(l)-i == 1 {
				more = "problem"
			}
			fmt.Fprintf(&b, "\n… and %d more %s: fix these and run again", len(l)-i, more)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
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
