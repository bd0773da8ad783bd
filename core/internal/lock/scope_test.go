package lock

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9-]{1,63}$`)

func TestScopeProfileName(t *testing.T) {
	for _, tc := range []struct {
		scope Scope
		want  string // "" checks only validity and length
	}{
		{Plex("lab"), "plex-lock-plex-lab"},
		{Registry("lab"), "plex-lock-registry-lab"},
		{Plex("Lab-2"), "plex-lock-plex-Lab-2"},
		{Plex("a.b"), ""},
		{Plex("a b/c"), ""},
		{Plex(strings.Repeat("x", 63)), ""},
		{Registry(strings.Repeat("r", 63)), ""},
	} {
		got := tc.scope.ProfileName()
		if tc.want != "" && got != tc.want {
			t.Errorf("%v: %q, want %q", tc.scope, got, tc.want)
		}
		if !validName.MatchString(got) || len(got) > maxBaseLen {
			t.Errorf("%v: %q is not a valid lock name (letters, digits, dashes, ≤ %d)", tc.scope, got, maxBaseLen)
		}
		claim := claimName(got, `"`+strings.Repeat("f", 64)+`"`, maxClaims-1)
		if !validName.MatchString(claim) {
			t.Errorf("%v: claim %q is not a valid profile name", tc.scope, claim)
		}
	}
	// Scopes that clean or shorten to the same text still get their own lock.
	for _, pair := range [][2]Scope{
		{Plex("a.b"), Plex("a-b")},
		{Plex("a.b"), Plex("a_b")},
		{Plex(strings.Repeat("x", 63)), Plex(strings.Repeat("x", 62) + "y")},
		{Plex("x"), Registry("x")},
	} {
		if a, b := pair[0].ProfileName(), pair[1].ProfileName(); a == b {
			t.Errorf("%v and %v share the lock %q", pair[0], pair[1], a)
		}
	}
	if claimName(lab, `"a"`, 0) == claimName(lab, `"b"`, 0) || claimName(lab, `"a"`, 0) == claimName(lab, `"a"`, 1) {
		t.Error("claims on different content, or different attempts, share a name")
	}
}

func TestHolderString(t *testing.T) {
	today := time.Now()
	at := time.Date(today.Year(), today.Month(), today.Day(), 10, 1, 2, 0, time.Local)
	for _, tc := range []struct {
		h    Holder
		want string
	}{
		{Holder{Host: "h", PID: 123, Verb: "kubectl plex up", Since: at}, "host h pid 123 (kubectl plex up) since 10:01:02"},
		{Holder{Host: "h", PID: 123, Verb: "kubectl plex up", Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)}, "host h pid 123 (kubectl plex up) since 2026-01-02 03:04:05"},
		{Holder{Host: "h", PID: 5}, "host h pid 5"},
		{Holder{}, "an unknown holder"},
	} {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}
