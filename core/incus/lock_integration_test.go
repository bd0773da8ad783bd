package incus

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// TestIntegrationLockProfiles checks, on the harness incusd, what the lock
// in core/internal/lock relies on: an exclusive create (of many at once,
// exactly one wins; the server answers the rest 500, which must read as
// IsExists), ETags that change with the content, and If-Match refusing a
// stale ETag.
func TestIntegrationLockProfiles(t *testing.T) {
	s, _ := connectHarness(t)
	// Not testCtx's 30 s: eight concurrent writes wait on incusd's
	// database, and in CI other packages' tests load the same daemon.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel) // registered first, so it runs after the deletions below
	name := fmt.Sprintf("plex-itest-lock-%d", os.Getpid())
	race := name + "-race"
	t.Cleanup(func() {
		_ = s.DeleteProfile(ctx, name)
		_ = s.DeleteProfile(ctx, race)
	})

	p := Profile{Name: name, Description: "plex lock integration test", Config: map[string]string{LabelManaged: "true", "user.plex.lock.beat": "0"}}
	if err := s.CreateProfileExclusive(ctx, p); err != nil {
		t.Fatalf("CreateProfileExclusive: %v", err)
	}
	if err := s.CreateProfileExclusive(ctx, p); !IsExists(err) {
		t.Fatalf("creating it again = %v; want IsExists", err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.CreateProfileExclusive(ctx, Profile{Name: race, Config: map[string]string{LabelManaged: "true", "user.i": fmt.Sprint(i)}})
		}(i)
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !IsExists(err):
			t.Errorf("create %d of %s: %v; want success or IsExists", i, race, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent creates of %s succeeded; want exactly 1", won, len(errs), race)
	}

	got, etag, err := s.GetProfileETag(ctx, name)
	if err != nil || etag == "" || got.Config["user.plex.lock.beat"] != "0" {
		t.Fatalf("GetProfileETag = %+v, %q, %v", got, etag, err)
	}
	got.Config["user.plex.lock.beat"] = "1"
	if err := s.UpdateProfileIfMatch(ctx, *got, etag); err != nil {
		t.Fatalf("UpdateProfileIfMatch with a fresh ETag: %v", err)
	}
	_, etag2, err := s.GetProfileETag(ctx, name)
	if err != nil || etag2 == etag {
		t.Errorf("ETag after an update %q (was %q), %v; want a new one", etag2, etag, err)
	}
	if err := s.UpdateProfileIfMatch(ctx, *got, etag); !IsChanged(err) {
		t.Errorf("UpdateProfileIfMatch with a stale ETag = %v; want IsChanged", err)
	}
	if err := s.DeleteProfile(ctx, name); err != nil {
		t.Fatalf("DeleteProfile: %v", err)
	}
	if _, _, err := s.GetProfileETag(ctx, name); !IsNotFound(err) {
		t.Errorf("GetProfileETag after delete = %v; want IsNotFound", err)
	}
	if err := s.UpdateProfileIfMatch(ctx, *got, etag2); !IsNotFound(err) {
		t.Errorf("UpdateProfileIfMatch of a deleted profile = %v; want IsNotFound", err)
	}
}
