package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxIndex is the largest node index plex accepts. It keeps a typo such as
// "1-100000" from planning a hundred thousand nodes.
const MaxIndex = 9999

// ParseIndices parses an index list such as "1, 3-14" into sorted, unique,
// positive node indices. Items are separated by commas; an item is a number or
// an inclusive range LOW-HIGH. An index listed twice, also through overlapping
// ranges ("1-3, 2"), is an error, because it would name one node twice.
func ParseIndices(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf(`no indices: write indices like "1, 3-14"`)
	}
	from := map[int]string{} // index → the item that listed it
	var out []int
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf(`empty item in %q: write indices like "1, 3-14", without a leading, trailing or doubled comma`, s)
		}
		lo, hi, err := parseIndexItem(item)
		if err != nil {
			return nil, err
		}
		for i := lo; i <= hi; i++ {
			if prev, ok := from[i]; ok {
				if prev == item {
					return nil, fmt.Errorf("index %d is listed twice (in %q): list each index once", i, item)
				}
				return nil, fmt.Errorf("index %d is listed twice (in %q and %q): list each index once", i, prev, item)
			}
			from[i] = item
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out, nil
}

// parseIndexItem parses "7" or "3-14".
func parseIndexItem(item string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(item, "-")
	lo, err = parseIndex(strings.TrimSpace(a), item)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err = parseIndex(strings.TrimSpace(b), item)
	if err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q runs backwards: write it low to high, like \"%d-%d\"", item, hi, lo)
	}
	return lo, hi, nil
}

func parseIndex(s, item string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf(`%q is not an index or a range: write indices like "1, 3-14"`, item)
	}
	if n < 1 {
		return 0, fmt.Errorf("index %d in %q is not allowed: indices start at 1", n, item)
	}
	if n > MaxIndex {
		return 0, fmt.Errorf("index %d in %q is too large: indices go up to %d", n, item, MaxIndex)
	}
	return n, nil
}
