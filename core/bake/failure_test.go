package bake

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/core/incus"
	"github.com/plex-dev/plex/core/status"
)

const (
	oldFingerprint = "oldfp0000000000000"
	bakeInstance   = "plexbake-debian12-kube"
)

// withNeighbours adds what a failed bake must leave alone: an unrelated
// plex instance, and the alias's older image that the bake was replacing.
func withNeighbours(f *fakeServer) {
	f.instances["lab1-cp1"] = map[string]string{incus.LabelManaged: "true"}
	f.images[oldFingerprint] = map[string]string{incus.PropType: "kube", incus.PropInputs: "older"}
	f.aliases["debian12_kube"] = oldFingerprint
}

// failingBake bakes debian12_kube on f, failing at step: "provision" fails
// the provisioning script the way a missing package does; any other step
// fails through the afterStep hook once the step has done its work.
func failingBake(t *testing.T, f *fakeServer, step string, retain bool) (string, error) {
	t.Helper()
	var log bytes.Buffer
	opts := Options{Type: TypeKube, Base: "debian12", KubeArtifacts: artifactDir(t), RuntimeArtifacts: artifactDir(t), Retain: retain, Log: status.New(&log)}
	if step == "provision" {
		f.exec = func(cmd []string) (string, int) {
			if strings.HasSuffix(cmd[len(cmd)-1], "kube-provision.sh") {
				return "E: Unable to locate package containerd\n", 100
			}
			return "ok\n", 0
		}
	} else {
		opts.afterStep = func(_ context.Context, s, _ string) error {
			if s == step {
				return errors.New("injected failure")
			}
			return nil
		}
	}
	_, err := Bake(context.Background(), f, opts)
	if err == nil {
		t.Fatal("the bake did not fail")
	}
	return log.String(), err
}

// TestBakeFailureRemovesWhatItMade fails a bake before and after it
// published its image, and checks that exactly what it made is gone: its
// transient instance and new image, not the unrelated instance, not the
// older image, and not the alias's hold on it.
func TestBakeFailureRemovesWhatItMade(t *testing.T) {
	for step, removed := range map[string]string{
		"provision": "removed the 1 instance(s) this run made",
		"publish":   "removed the 1 instance(s) and 1 image(s) this run made",
		"stop":      "removed the 1 instance(s) this run made",
	} {
		t.Run(step, func(t *testing.T) {
			f := newFakeServer()
			withNeighbours(f)
			log, err := failingBake(t, f, step, false)
			if !strings.Contains(err.Error(), removed) || !strings.HasPrefix(err.Error(), "baking debian12_kube: ") {
				t.Errorf("error does not say what was removed (%q):\n%v", removed, err)
			}
			var ee *incus.ExecError
			if step == "provision" && (!errors.As(err, &ee) || !strings.Contains(err.Error(), "Unable to locate package")) {
				t.Errorf("the error does not carry the command's output: %v", err)
			}
			if got := slices.Sorted(maps.Keys(f.instances)); !slices.Equal(got, []string{"lab1-cp1"}) {
				t.Errorf("instances after the failed bake: %v, want only lab1-cp1", got)
			}
			if got := slices.Sorted(maps.Keys(f.images)); !slices.Equal(got, []string{"basefp000000000000", oldFingerprint}) {
				t.Errorf("images after the failed bake: %v", got)
			}
			if f.aliases["debian12_kube"] != oldFingerprint {
				t.Errorf("alias debian12_kube → %q, want the older image", f.aliases["debian12_kube"])
			}
			if !strings.Contains(log, "✗ "+map[string]string{"provision": "install packages", "publish": "publish", "stop": "stop"}[step]) {
				t.Errorf("no ✗ line for the failed step:\n%s", log)
			}
			if step == "publish" {
				// Newest first: the image, then the instance it was made from.
				img, inst := slices.Index(f.calls, "delete-image newfp0000000000001"), slices.Index(f.calls, "delete "+bakeInstance)
				if img < 0 || inst < img {
					t.Errorf("undo order: %v", f.calls)
				}
			}
		})
	}
}

// TestBakeRetain fails bakes with Retain and checks that what they made
// stays, and that the error and the log say so and how to remove it.
func TestBakeRetain(t *testing.T) {
	for step, kept := range map[string]string{
		"provision": "kept the 1 instance(s) this run made",
		"publish":   "kept the 1 instance(s) and 1 image(s) this run made",
	} {
		t.Run(step, func(t *testing.T) {
			f := newFakeServer()
			withNeighbours(f)
			log, err := failingBake(t, f, step, true)
			if !strings.Contains(err.Error(), kept) || !strings.Contains(err.Error(), "--retain") {
				t.Errorf("error does not say what was kept (%q):\n%v", kept, err)
			}
			if _, ok := f.instances[bakeInstance]; !ok || len(f.instances) != 2 {
				t.Errorf("instances: %v, want %s kept next to lab1-cp1", slices.Sorted(maps.Keys(f.instances)), bakeInstance)
			}
			for _, want := range []string{"incus exec " + bakeInstance + " -- bash", "incus delete --force " + bakeInstance} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			images := 2
			if step == "publish" {
				images = 3
				if !strings.Contains(log, "incus image delete newfp0000000000001") {
					t.Errorf("log does not say how to remove the kept image:\n%s", log)
				}
			}
			if len(f.images) != images || f.aliases["debian12_kube"] != oldFingerprint {
				t.Errorf("images %v, alias → %s", slices.Sorted(maps.Keys(f.images)), f.aliases["debian12_kube"])
			}
			if slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "delete") }) {
				t.Errorf("a retained bake deleted something: %v", f.calls)
			}
		})
	}
}

// TestBakeWaitFindsImageMade waits for another bake of the alias, which
// makes the image with the same inputs meanwhile: the waiting bake then
// removes its fresh instance and ends as a cache hit without provisioning.
func TestBakeWaitFindsImageMade(t *testing.T) {
	opts := Options{Type: TypeKube, Base: "debian12", KubeArtifacts: artifactDir(t), RuntimeArtifacts: artifactDir(t)}
	first, err := Bake(context.Background(), newFakeServer(), opts)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeServer()
	f.instances[bakeInstance] = map[string]string{
		incus.LabelBake: "debian12_kube", incus.LabelBakeStarted: time.Now().UTC().Format(time.RFC3339),
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.mu.Lock()
		f.images["otherfp00000000000"] = map[string]string{incus.PropType: "kube", incus.PropInputs: first.Inputs}
		f.aliases["debian12_kube"] = "otherfp00000000000"
		delete(f.instances, bakeInstance)
		f.mu.Unlock()
	}()
	opts.Wait = true
	res, err := Bake(context.Background(), f, opts)
	if err != nil || !res.Cached || res.Fingerprint != "otherfp00000000000" {
		t.Fatalf("waiting bake: %+v, %v", res, err)
	}
	if len(f.instances) != 0 || slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "start") || strings.HasPrefix(c, "publish") }) {
		t.Errorf("instances %v; calls %v", f.instances, f.calls)
	}
}
