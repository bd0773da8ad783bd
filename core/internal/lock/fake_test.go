package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/plex-dev/plex/core/incus"
)

// fakeIncus keeps profiles as Incus does for what a lock uses: an atomic
// create, an ETag that is a hash of the content, If-Match on update, and
// errors that incus.IsExists, IsNotFound and IsChanged recognise. Each
// client (a run, a process) talks to it through its own view, which a test
// can freeze, as a stopped process, or make fail, as a broken network.
type fakeIncus struct {
	mu       sync.Mutex
	profiles map[string]incus.Profile
}

func newFake() *fakeIncus { return &fakeIncus{profiles: map[string]incus.Profile{}} }

func fakeETag(p incus.Profile) string {
	b, _ := json.Marshal([]any{p.Config, p.Description, p.Devices})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func clone(p incus.Profile) incus.Profile {
	p.Config = maps.Clone(p.Config)
	return p
}

// put stores a profile directly, as a client that is gone left it.
func (f *fakeIncus) put(p incus.Profile) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[p.Name] = clone(p)
	return fakeETag(p)
}

func (f *fakeIncus) get(name string) (incus.Profile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.profiles[name]
	return clone(p), ok
}

// names lists the profiles, sorted.
func (f *fakeIncus) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.profiles))
	for n := range f.profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// holderIn is the holder the lock profile name names now.
func (f *fakeIncus) holderIn(name string) (Holder, bool) {
	p, ok := f.get(name)
	if !ok {
		return Holder{}, false
	}
	h, _ := holderOf(&p)
	return h, true
}

// view is one client of the fake.
type view struct {
	f  *fakeIncus
	mu sync.Mutex
	// frozen, while not nil, holds every call until it is closed: the
	// client is stopped (SIGSTOP), so even its deadlines do not fire.
	frozen chan struct{}
	// fail makes every call fail, as an unreachable server does.
	fail error
	// loseCreateAnswer makes a create happen and then fail, as a
	// connection that drops before the answer.
	loseCreateAnswer bool
	calls            int
}

func (f *fakeIncus) view() *view { return &view{f: f} }

func (v *view) freeze() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.frozen == nil {
		v.frozen = make(chan struct{})
	}
}

func (v *view) thaw() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.frozen != nil {
		close(v.frozen)
		v.frozen = nil
	}
}

func (v *view) setFail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fail = err
}

func (v *view) gate(ctx context.Context) error {
	v.mu.Lock()
	frozen, fail := v.frozen, v.fail
	v.calls++
	v.mu.Unlock()
	if frozen != nil {
		<-frozen
	}
	if fail != nil {
		return fail
	}
	return ctx.Err()
}

func notFound(name string) error { return fmt.Errorf("profile %s: %w", name, incus.ErrNotFound) }

func (v *view) CreateProfileExclusive(ctx context.Context, p incus.Profile) error {
	if err := v.gate(ctx); err != nil {
		return err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	if _, ok := v.f.profiles[p.Name]; ok {
		return fmt.Errorf("creating profile %s: %w", p.Name, incus.ErrExists)
	}
	v.f.profiles[p.Name] = clone(p)
	v.mu.Lock()
	lose := v.loseCreateAnswer
	v.mu.Unlock()
	if lose {
		return errors.New("POST /1.0/profiles: connection reset by peer")
	}
	return nil
}

func (v *view) GetProfileETag(ctx context.Context, name string) (*incus.Profile, string, error) {
	if err := v.gate(ctx); err != nil {
		return nil, "", err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	p, ok := v.f.profiles[name]
	if !ok {
		return nil, "", notFound(name)
	}
	c := clone(p)
	return &c, fakeETag(p), nil
}

func (v *view) UpdateProfileIfMatch(ctx context.Context, p incus.Profile, etag string) error {
	if err := v.gate(ctx); err != nil {
		return err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	cur, ok := v.f.profiles[p.Name]
	if !ok {
		return notFound(p.Name)
	}
	if fakeETag(cur) != etag {
		return fmt.Errorf("updating profile %s: %w", p.Name, incus.ErrChanged)
	}
	v.f.profiles[p.Name] = clone(p)
	return nil
}

func (v *view) DeleteProfile(ctx context.Context, name string) error {
	if err := v.gate(ctx); err != nil {
		return err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	if p, ok := v.f.profiles[name]; ok && !strings.EqualFold(p.Config[incus.LabelManaged], "true") {
		return fmt.Errorf("profile %s was not created by plex", name)
	}
	delete(v.f.profiles, name)
	return nil
}
