package lock

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus"
)

// Holder says who holds a lock, for the person who waits for it.
type Holder struct {
	// Host is the holder's host name.
	Host string `json:"host"`
	// PID is the holder's process id on Host.
	PID int `json:"pid"`
	// Verb is what the holder is doing: "kubectl plex up".
	Verb string `json:"verb"`
	// Since is when it took the lock, by its own clock.
	Since time.Time `json:"since"`
	// ID is random per acquisition: it tells this holding from any other,
	// even of the same process.
	ID string `json:"id"`
}

// String is "host h pid 123 (kubectl plex up) since 10:01:02", with the
// date when Since is not today.
func (h Holder) String() string {
	if h.Host == "" && h.PID == 0 && h.Verb == "" {
		return "an unknown holder"
	}
	var b strings.Builder
	b.WriteString("host " + h.Host)
	if h.PID != 0 {
		b.WriteString(" pid " + strconv.Itoa(h.PID))
	}
	if h.Verb != "" {
		b.WriteString(" (" + h.Verb + ")")
	}
	if !h.Since.IsZero() {
		since, now := h.Since.Local(), time.Now()
		layout := "15:04:05"
		if y, m, d := since.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
			layout = "2006-01-02 15:04:05"
		}
		b.WriteString(" since " + since.Format(layout))
	}
	return b.String()
}

// Config keys of a lock profile, next to incus.LabelManaged.
const (
	// keyHolder is the holder as JSON.
	keyHolder = incus.LabelPrefix + "lock.holder"
	// keyBeat counts the holder's renewals: each one changes the profile,
	// and so its ETag, which is how waiters see that the holder lives.
	keyBeat = incus.LabelPrefix + "lock.beat"
	// keyClaim, on a takeover claim, is the claimant as JSON.
	keyClaim = incus.LabelPrefix + "lock.claim"
)

// lockProfile is the content of the lock profile while h holds it.
func lockProfile(name string, scope Scope, h Holder, beat uint64) incus.Profile {
	j, _ := json.Marshal(h)
	return incus.Profile{
		Name: name,
		// The description is what `incus profile list` shows a person who
		// wonders what the profile is; it must not change with each beat
		// only because of the clock, so it names Since as written.
		Description: fmt.Sprintf("plex lock on %s, held by host %s pid %d (%s) since %s; it frees itself when that process stops renewing it", scope, h.Host, h.PID, h.Verb, h.Since.Format(time.RFC3339)),
		Config: map[string]string{
			incus.LabelManaged: "true",
			keyHolder:          string(j),
			keyBeat:            strconv.FormatUint(beat, 10),
		},
	}
}

// claimProfile is a takeover claim made by h.
func claimProfile(name string, scope Scope, h Holder) incus.Profile {
	j, _ := json.Marshal(h)
	return incus.Profile{
		Name:        name,
		Description: fmt.Sprintf("plex lock on %s: a takeover by host %s pid %d (%s) in progress; it lives for a moment", scope, h.Host, h.PID, h.Verb),
		Config:      map[string]string{incus.LabelManaged: "true", keyClaim: string(j)},
	}
}

// holderOf reads a lock profile. A profile someone edited by hand reads as
// an unknown holder: it is still a lock, and it goes stale like any other.
func holderOf(p *incus.Profile) (Holder, uint64) {
	var h Holder
	_ = json.Unmarshal([]byte(p.Config[keyHolder]), &h)
	beat, _ := strconv.ParseUint(p.Config[keyBeat], 10, 64)
	return h, beat
}

// newHolder completes the caller's Holder: host and pid default to this
// process, and the id is always fresh.
func newHolder(who Holder) (Holder, error) {
	if who.Host == "" {
		who.Host, _ = os.Hostname()
	}
	if who.PID == 0 {
		who.PID = os.Getpid()
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return Holder{}, fmt.Errorf("making a lock id: %w", err)
	}
	who.ID = hex.EncodeToString(b)
	return who, nil
}

// now is Since's clock: UTC, to the second, which is what a person reads.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// same reports whether h and o describe the same holding.
func (h Holder) same(o Holder) bool {
	return h.ID == o.ID && h.Host == o.Host && h.PID == o.PID && h.Verb == o.Verb && h.Since.Equal(o.Since)
}
