package incus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plex-dev/plex/internal/testenv"
)

// connectHarness connects the way a user's plex does, through the client
// configuration's defaults: no config.yml, remote local, the harness socket.
func connectHarness(t *testing.T) (*Server, *testenv.Harness) {
	t.Helper()
	h := testenv.Require(t)
	t.Setenv("INCUS_CONF", t.TempDir())
	t.Setenv("INCUS_SOCKET", h.Socket)
	t.Setenv("INCUS_REMOTE", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Connect(ctx, ConnectOptions{})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if s.Remote != "local" || s.Project != "default" {
		t.Fatalf("Connect gave remote %q project %q, want local/default", s.Remote, s.Project)
	}
	return s, h
}

// TestIntegrationServer calls every exported method of Server against the
// harness incusd, in the order a bake or an up would.
func TestIntegrationServer(t *testing.T) {
	s, h := connectHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suffix := fmt.Sprintf("%d", os.Getpid())
	name := "plex-itest-" + suffix
	profile := "plex-itest-" + suffix
	volume := "plex-itest-" + suffix
	alias := "plex-itest/" + suffix
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		_ = s.Delete(cctx, name)
		_ = s.DeleteVolume(cctx, h.Pool, volume)
		_ = s.DeleteProfile(cctx, profile)
		if img, err := s.ImageByAlias(cctx, alias); err == nil {
			_ = s.DeleteImage(cctx, img.Fingerprint)
		}
	})

	// The server.
	if arch, err := s.Architecture(ctx); err != nil || arch == "" {
		t.Fatalf("Architecture: %q, %v", arch, err)
	}
	if v, err := s.ServerVersion(ctx); err != nil || !strings.HasPrefix(v, "6.") {
		t.Errorf("ServerVersion: %q, %v", v, err)
	}
	if m, err := s.Members(ctx); err != nil || len(m) != 0 {
		t.Errorf("Members of a standalone server: %v, %v", m, err)
	}
	if pool, err := s.DefaultPool(ctx); err != nil || pool != h.Pool {
		t.Errorf("DefaultPool: %q, %v (want %q)", pool, err, h.Pool)
	}
	if p, err := s.NetworkIPv4(ctx, h.Network); err != nil || !p.Addr().Is4() {
		t.Errorf("NetworkIPv4(%s): %v, %v", h.Network, p, err)
	}
	if _, err := s.NetworkIPv4(ctx, "plex-no-such-net"); err == nil {
		t.Error("NetworkIPv4 of a missing network: no error")
	}

	// A profile: create, leave alone when equal, update, refuse unlabelled.
	p := Profile{Name: profile, Description: "plex integration test", Config: map[string]string{"user.a": "1"}}
	for i := 0; i < 2; i++ {
		if err := s.EnsureProfile(ctx, p); err != nil {
			t.Fatalf("EnsureProfile #%d: %v", i, err)
		}
	}
	p.Config["user.a"] = "2"
	if err := s.EnsureProfile(ctx, p); err != nil {
		t.Fatalf("EnsureProfile update: %v", err)
	}
	if got, err := s.GetProfile(ctx, profile); err != nil || got.Config["user.a"] != "2" || !IsManaged(got.Config) {
		t.Fatalf("GetProfile: %+v, %v", got, err)
	}
	if err := s.EnsureProfile(ctx, Profile{Name: "default"}); err == nil {
		t.Error("EnsureProfile changed the unlabelled default profile")
	}
	if _, err := s.GetProfile(ctx, "plex-no-such-profile"); !IsNotFound(err) {
		t.Errorf("GetProfile of a missing profile: %v, want not found", err)
	}

	// A custom volume.
	if err := s.CreateVolume(ctx, Volume{Pool: h.Pool, Name: volume, Config: map[string]string{LabelManaged: "true"}}); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	if v, err := s.GetVolume(ctx, h.Pool, volume); err != nil || !v.Managed() {
		t.Fatalf("GetVolume: %+v, %v", v, err)
	}
	if err := s.DeleteVolume(ctx, h.Pool, volume); err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if _, err := s.GetVolume(ctx, h.Pool, volume); !IsNotFound(err) {
		t.Errorf("GetVolume after delete: %v, want not found", err)
	}
	if err := s.DeleteVolume(ctx, h.Pool, volume); err != nil {
		t.Errorf("DeleteVolume of a missing volume: %v", err)
	}

	// An instance from the base image.
	src, err := s.ResolveImage(ctx, h.Image, false)
	if err != nil || src.Fingerprint == "" || !src.Local() {
		t.Fatalf("ResolveImage(%s): %+v, %v", h.Image, src, err)
	}
	if _, err := s.ResolveImage(ctx, "plex-no-such-image", false); !IsNotFound(err) {
		t.Errorf("ResolveImage of a missing image: %v, want not found", err)
	}
	spec := InstanceSpec{Name: name, Fingerprint: src.Fingerprint, Profiles: []string{"default", profile},
		Config: map[string]string{LabelManaged: "true", LabelPlex: "itest"}}
	if err := s.CreateInstance(ctx, spec); err != nil {
		t.Fatalf("CreateInstance: %v", err)
	}
	if err := s.CreateInstance(ctx, spec); err == nil {
		t.Error("CreateInstance of an existing name: no error")
	}
	if err := s.MakeDir(ctx, name, "/root/made-while-stopped", 0o700); err != nil {
		t.Errorf("MakeDir in a stopped container: %v", err)
	}
	// Files seeded before the first start are there after it, byte for
	// byte: template syntax in them stays text, and /etc/hosts, which the
	// image's own template writes, has the seeded content.
	seeded := []SeedFile{
		{Path: "/etc/plex-itest/seeded/key", Content: []byte("{{ config }} {% if %} {# c #} ${x} {}\n"), Mode: 0o600},
		{Path: "/etc/hosts", Content: []byte("127.0.0.1 localhost\n10.0.0.9 plex-itest-seeded\n")},
	}
	if err := s.SeedFiles(ctx, name, seeded); err != nil {
		t.Fatalf("SeedFiles: %v", err)
	}
	if err := s.SeedFiles(ctx, name, []SeedFile{{Path: "relative", Content: []byte("x")}}); err == nil {
		t.Error("SeedFiles of a relative path: no error")
	}
	for i := 0; i < 2; i++ {
		if err := s.Start(ctx, name); err != nil {
			t.Fatalf("Start #%d: %v", i, err)
		}
	}
	for _, f := range seeded {
		b, info, err := s.ReadFile(ctx, name, f.Path)
		if err != nil || !bytes.Equal(b, f.Content) {
			t.Errorf("seeded %s: %q, %v; want %q", f.Path, b, err, f.Content)
		}
		if f.Mode != 0 && info.Mode != f.Mode {
			t.Errorf("seeded %s: mode %o, want %o", f.Path, info.Mode, f.Mode)
		}
	}
	in, err := s.GetInstance(ctx, name)
	if err != nil || in.Status != "Running" || in.Plex() != "itest" {
		t.Fatalf("GetInstance: %+v, %v", in, err)
	}
	list, err := s.ListInstances(ctx)
	if err != nil {
		t.Fatalf("ListInstances: %v", err)
	}
	found := false
	for _, i := range list {
		found = found || (i.Name == name && i.Managed())
	}
	if !found {
		t.Errorf("ListInstances has no managed %s: %+v", name, list)
	}
	if _, err := s.GetInstance(ctx, "plex-no-such-instance"); !IsNotFound(err) {
		t.Errorf("GetInstance of a missing instance: %v, want not found", err)
	}
	if err := s.SetInstanceConfig(ctx, name, map[string]string{"user.plex.itest": "x", LabelPlex: ""}); err != nil {
		t.Fatalf("SetInstanceConfig: %v", err)
	}
	if in, _ := s.GetInstance(ctx, name); in.Config["user.plex.itest"] != "x" || in.Config[LabelPlex] != "" || !in.Managed() {
		t.Errorf("SetInstanceConfig left config %v", in.Config)
	}

	testIntegrationExec(ctx, t, s, name)
	testIntegrationFiles(ctx, t, s, name)
	testIntegrationSnapshots(ctx, t, s, name)

	// The address comes once networkd has configured eth0 (DHCP on the
	// harness bridge); poll briefly.
	var addrs map[string][]string
	for i := 0; i < 60; i++ {
		if addrs, err = s.Addresses(ctx, name); err == nil && len(addrs["eth0"]) > 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("Addresses: %v", err)
	}
	t.Logf("addresses: %v", addrs)

	// Stop, publish, alias, list, delete.
	if err := s.Shutdown(ctx, name, 20*time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Stop(ctx, name, true); err != nil {
		t.Errorf("Stop of a stopped instance: %v", err)
	}
	fp, err := s.PublishImage(ctx, PublishSpec{Instance: name, Properties: map[string]string{PropType: "itest"}, Compression: "none"})
	if err != nil || len(fp) != 64 {
		t.Fatalf("PublishImage: %q, %v", fp, err)
	}
	if old, err := s.SetImageAlias(ctx, alias, fp, "itest"); err != nil || old != "" {
		t.Fatalf("SetImageAlias (new): %q, %v", old, err)
	}
	img, err := s.ImageByAlias(ctx, alias)
	if err != nil || img.Fingerprint != fp || img.Properties[PropType] != "itest" {
		t.Fatalf("ImageByAlias: %+v, %v", img, err)
	}
	imgs, err := s.ListImages(ctx, PropType)
	if err != nil || len(imgs) == 0 || imgs[0].Fingerprint != fp {
		t.Errorf("ListImages(%s): %+v, %v", PropType, imgs, err)
	}
	fp2, err := s.Publish(ctx, name, alias, map[string]string{PropType: "itest2"})
	if err != nil || fp2 == fp {
		t.Fatalf("Publish (moving the alias): %q, %v", fp2, err)
	}
	if img, err := s.ImageByAlias(ctx, alias); err != nil || img.Fingerprint != fp2 {
		t.Errorf("after Publish the alias points at %+v, %v; want %s", img, err, fp2)
	}
	if _, err := s.ResolveImage(ctx, fp, false); !IsNotFound(err) {
		t.Errorf("Publish left the old image %s: %v", fp, err)
	}
	if err := s.DeleteImageAlias(ctx, alias); err != nil {
		t.Errorf("DeleteImageAlias: %v", err)
	}
	if _, err := s.ImageByAlias(ctx, alias); !IsNotFound(err) {
		t.Errorf("ImageByAlias after DeleteImageAlias: %v", err)
	}
	if err := s.DeleteImage(ctx, fp2); err != nil {
		t.Errorf("DeleteImage: %v", err)
	}
	if err := s.DeleteImage(ctx, fp2); err != nil {
		t.Errorf("DeleteImage of a missing image: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Delete(ctx, name); err != nil {
			t.Fatalf("Delete #%d: %v", i, err)
		}
	}
	if err := s.DeleteProfile(ctx, profile); err != nil {
		t.Errorf("DeleteProfile: %v", err)
	}
	if err := s.DeleteProfile(ctx, "default"); err == nil {
		t.Error("DeleteProfile removed the unlabelled default profile")
	}
}

func testIntegrationExec(ctx context.Context, t *testing.T, s *Server, name string) {
	for _, c := range []struct {
		cmd  []string
		code int
	}{{[]string{"true"}, 0}, {[]string{"false"}, 1}, {[]string{"plex-no-such-command"}, 127}, {[]string{"sh", "-c", "exit 7"}, 7}} {
		code, err := s.Exec(ctx, name, c.cmd, ExecOptions{})
		if err != nil || code != c.code {
			t.Errorf("Exec %v: code %d, %v; want %d", c.cmd, code, err, c.code)
		}
	}
	var ee *ExecError
	if _, err := s.Run(ctx, name, "sh", "-c", "echo out; echo err >&2; exit 3"); !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(ee.Output, "out") || !strings.Contains(ee.Output, "err") {
		t.Errorf("Run of a failing command: %v", err)
	}
	// More than 1 MiB of output, byte-exact.
	out, err := s.Run(ctx, name, "sh", "-c", "head -c 3145728 /dev/zero | tr '\\0' x")
	if err != nil || len(out) != 3<<20 || strings.Trim(out, "x") != "" {
		t.Errorf("Run with 3 MiB of output: %d bytes, %v", len(out), err)
	}
	// Standard input.
	in := bytes.Repeat([]byte("plex\n"), 100000)
	out, err = s.RunInput(ctx, name, bytes.NewReader(in), "wc", "-c")
	if err != nil || strings.TrimSpace(out) != fmt.Sprint(len(in)) {
		t.Errorf("RunInput: %q, %v", out, err)
	}
	// Output streams while the command runs: the first line arrives before
	// the command ends.
	first := make(chan struct{})
	w := writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("early")) {
			select {
			case <-first:
			default:
				close(first)
			}
		}
		return len(p), nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := s.Exec(ctx, name, []string{"sh", "-c", "echo early; sleep 3; echo late"}, ExecOptions{Stdout: w})
		done <- err
	}()
	select {
	case <-first:
	case err := <-done:
		t.Errorf("the command ended (%v) before its first line was seen", err)
	case <-time.After(2500 * time.Millisecond):
		t.Error("the first line had not arrived 2.5 s into a command that prints it at once")
	}
	<-done
	// Ctrl-C: the context ends while a command runs; Exec returns, and the
	// command is gone from the instance.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(time.Second); cancel() }()
	_, err = s.Exec(cctx, name, []string{"sleep", "300"}, ExecOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Exec after cancel: %v, want context.Canceled", err)
	}
	if out, _ := s.Run(ctx, name, "sh", "-c", "pgrep -x sleep || true"); strings.TrimSpace(out) != "" {
		t.Errorf("the cancelled command still runs: pids %q", out)
	}
}

func testIntegrationFiles(ctx context.Context, t *testing.T, s *Server, name string) {
	if err := s.PushFile(ctx, name, "/opt/plex-itest/a/b/run.sh", []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatalf("PushFile into missing directories: %v", err)
	}
	b, info, err := s.ReadFile(ctx, name, "/opt/plex-itest/a/b/run.sh")
	if err != nil || info.Mode != 0o755 || info.Type != "file" || !strings.Contains(string(b), "echo ran") {
		t.Errorf("ReadFile: %q %+v %v", b, info, err)
	}
	if out, err := s.Run(ctx, name, "/opt/plex-itest/a/b/run.sh"); err != nil || strings.TrimSpace(out) != "ran" {
		t.Errorf("running the pushed script: %q, %v", out, err)
	}
	if err := s.WriteFile(ctx, name, "/opt/plex-itest/owned", strings.NewReader("x"), FileMode{Mode: 0o600, UID: 1000, GID: 1000}); err != nil {
		t.Fatalf("WriteFile with an owner: %v", err)
	}
	if _, info, err := s.ReadFile(ctx, name, "/opt/plex-itest/owned"); err != nil || info.UID != 1000 || info.GID != 1000 || info.Mode != 0o600 {
		t.Errorf("owner and mode: %+v, %v", info, err)
	}
	big := bytes.Repeat([]byte{0, 1, 2, 3, 255}, 1<<20)
	if err := s.PushReader(ctx, name, "/opt/plex-itest/big", bytes.NewReader(big), 0o644); err != nil {
		t.Fatalf("PushReader: %v", err)
	}
	if got, err := s.PullFile(ctx, name, "/opt/plex-itest/big"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("PullFile of 5 MiB: %d bytes, %v", len(got), err)
	}
	if _, info, err := s.ReadFile(ctx, name, "/opt/plex-itest/a"); err != nil || info.Type != "directory" || len(info.Entries) != 1 || info.Entries[0] != "b" {
		t.Errorf("ReadFile of a directory: %+v, %v", info, err)
	}
	if _, err := s.PullFile(ctx, name, "/opt/plex-itest/missing"); !IsNotFound(err) {
		t.Errorf("PullFile of a missing file: %v, want not found", err)
	}
	if err := s.MakeDir(ctx, name, "/opt/plex-itest/dir", 0o750); err != nil {
		t.Errorf("MakeDir: %v", err)
	}
	if err := s.MakeDir(ctx, name, "/opt/plex-itest/dir", 0o750); err != nil {
		t.Errorf("MakeDir of an existing directory: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// testIntegrationSnapshots snapshots the running instance live, changes a
// file and a label, restores, and finds both as they were.
func testIntegrationSnapshots(ctx context.Context, t *testing.T, s *Server, name string) {
	if err := s.PushFile(ctx, name, "/root/snap", []byte("before"), 0o644); err != nil {
		t.Fatalf("PushFile: %v", err)
	}
	if err := s.SetInstanceConfig(ctx, name, map[string]string{"user.plex.itest-snap": "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(ctx, name, "s1"); err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	if err := s.CreateSnapshot(ctx, name, "s1"); err == nil {
		t.Error("CreateSnapshot of a name taken: no error")
	}
	snaps, err := s.ListSnapshots(ctx, name)
	if err != nil || len(snaps) != 1 || snaps[0].Name != "s1" || snaps[0].Stateful || snaps[0].Config["user.plex.itest-snap"] != "s1" || snaps[0].CreatedAt.IsZero() {
		t.Fatalf("ListSnapshots: %+v, %v", snaps, err)
	}
	if err := s.PushFile(ctx, name, "/root/snap", []byte("after"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInstanceConfig(ctx, name, map[string]string{"user.plex.itest-snap": "later"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreSnapshot(ctx, name, "s1"); err != nil {
		t.Fatalf("RestoreSnapshot: %v", err)
	}
	if err := s.RestoreSnapshot(ctx, name, "plex-no-such-snapshot"); err == nil {
		t.Error("RestoreSnapshot of a missing snapshot: no error")
	}
	if in, err := s.GetInstance(ctx, name); err != nil || in.Status != "Running" || in.Config["user.plex.itest-snap"] != "s1" {
		t.Errorf("after RestoreSnapshot: %+v, %v; want it running with its config of s1", in, err)
	}
	if b, err := s.PullFile(ctx, name, "/root/snap"); err != nil || string(b) != "before" {
		t.Errorf("after RestoreSnapshot the file holds %q, %v; want \"before\"", b, err)
	}
	for i := 0; i < 2; i++ {
		if err := s.DeleteSnapshot(ctx, name, "s1"); err != nil {
			t.Errorf("DeleteSnapshot #%d: %v", i, err)
		}
	}
	if snaps, err := s.ListSnapshots(ctx, name); err != nil || len(snaps) != 0 {
		t.Errorf("ListSnapshots after DeleteSnapshot: %+v, %v", snaps, err)
	}
}
