package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plex-dev/plex/core/spec"
	"github.com/plex-dev/plex/core/status"
)

// checkOneLine checks that err is one line holding every want.
func checkOneLine(t *testing.T, err error, wants ...string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line:\n%s", msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
}

var outputLogRE = regexp.MustCompile(`\(full output in (\S+\.log)\)`)

// checkOutputLog checks that err names the run's output log, and that the
// log holds one entry per failed command with want in it.
func checkOutputLog(t *testing.T, err error, entries int, want string) {
	t.Helper()
	m := outputLogRE.FindStringSubmatch(err.Error())
	if m == nil {
		t.Errorf("error names no output log: %v", err)
		return
	}
	if !strings.HasPrefix(m[1], os.TempDir()) {
		t.Errorf("output log %s is not in %s", m[1], os.TempDir())
	}
	b, rerr := os.ReadFile(m[1])
	if rerr != nil {
		t.Fatalf("reading the output log: %v", rerr)
	}
	if n := strings.Count(string(b), "== "); n != entries || !strings.Contains(string(b), want) {
		t.Errorf("output log has %d entries, want %d, with %q:\n%s", n, entries, want, b)
	}
}

// bootFails makes the boot script fail in every node, with the output a
// broken image might give.
func bootFails(_ string, cmd []string) error {
	if isBootScript(cmd) {
		return errors.New("Cloud-init v. 24.1 running 'modules:final'\nstatus: error\nip: command not found")
	}
	return nil
}

func TestUpBootFailureOnEveryNodeIsOneLine(t *testing.T) {
	for _, retain := range []bool{false, true} {
		kc := testEnv(t)
		f := newFake(t)
		f.failRun = bootFails
		var out bytes.Buffer
		log := status.New(&out)
		log.Verbose = true
		// Three control planes: all three are waited for before init.
		err := Up(context.Background(), UpOptions{File: writeHASpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc, Retain: retain, Log: log})
		if err == nil {
			t.Fatalf("retain=%v: up with nodes that never boot succeeded", retain)
		}
		// -v shows each node's whole output.
		if n := strings.Count(out.String(), "status: error\nip: command not found"); n != 3 {
			t.Errorf("retain=%v: -v shows the output %d times, want 3:\n%s", retain, n, out.String())
		}
		first, note, _ := strings.Cut(err.Error(), "\n")
		want := `lab: waiting for 3 node(s) to boot: lab1, lab2, lab3 did not boot within 1s: command "sh -c if [ -e /etc/cloud/cloud-init.disabled ] || ! command -v cloud-init >/d…" exited 1: ip: command not found (full output in `
		if !strings.HasPrefix(first, want) {
			t.Errorf("retain=%v: error\n%s\nwant it to start\n%s", retain, first, want)
		}
		if n := strings.Count(err.Error(), "/etc/cloud/cloud-init.disabled"); n != 1 {
			t.Errorf("retain=%v: the boot script is in the error %d times:\n%v", retain, n, err)
		}
		checkOutputLog(t, err, 3, "$ sh -c if [ -e /etc/cloud/cloud-init.disabled ]")
		if retain {
			if got := f.names(); !slices.Equal(got, []string{"lab1", "lab2", "lab3"}) || !strings.Contains(note, "kept the 3 instance(s) this run made") {
				t.Errorf("retain: left %v; note %q", got, note)
			}
			continue
		}
		if !strings.HasSuffix(first, "; removed the 3 instance(s) this run made") || note != "" {
			t.Errorf("error does not end with what was removed:\n%v", err)
		}
		if !strings.Contains(out.String(), " ✓ lab: removing the 3 instance(s) this run made") {
			t.Errorf("no status line for the removal:\n%s", out.String())
		}
		if _, deleted := f.since(mark{}); !slices.Equal(deleted, []string{"lab1", "lab2", "lab3"}) || len(f.names()) > 0 {
			t.Errorf("deleted %v, left %v; want the 3 nodes deleted", deleted, f.names())
		}
	}
}

func TestUpInterruptedWhileBooting(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	f.addInstance("lab9", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.failRun = func(_ string, cmd []string) error {
		if isBootScript(cmd) {
			cancel() // Ctrl-C
			return context.Canceled
		}
		return nil
	}
	err := Up(ctx, UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted up: err = %v, want context.Canceled", err)
	}
	// The control plane's boot is waited for first; the workers' after init.
	if want := "lab: interrupted while waiting for 1 node(s) to boot; removed the 3 instance(s) this run made"; err.Error() != want {
		t.Errorf("interrupted up:\n got %q\nwant %q", err, want)
	}
	if got := f.names(); !slices.Equal(got, []string{"lab9"}) {
		t.Errorf("left %v, want only lab9", got)
	}
}

// statusTitles are the titles of the status lines opened in log.
func statusTitles(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if t, ok := strings.CutPrefix(l, " • "); ok {
			out = append(out, t)
		}
	}
	return out
}

// The status lines are the runner's, one per action: a step that runs on
// every node is one line that counts them.
func TestUpStatusLines(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	var log bytes.Buffer
	o := UpOptions{File: writeSpec(t, "lab", "1-3"), Target: f.target(), Kubeconfig: kc, Log: status.New(&log)}
	if err := Up(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"lab: ensuring profile plex-kube",
		"lab: creating 3 node(s)",
		"lab: waiting for 1 node(s) to boot",
		"lab: kubeadm init on lab1",
		"lab: waiting for 2 new worker(s) to boot",
		"lab: joining 2 node(s)",
		"lab: waiting for 3 node(s) to be Ready",
		"lab: writing kubeconfig",
		"lab: writing known_hosts",
	}
	if got := statusTitles(log.String()); !slices.Equal(got, want) {
		t.Errorf("first up's status lines:\n%s\nwant titles %q", log.String(), want)
	}
	log.Reset()
	if err := Up(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"lab: ensuring profile plex-kube",
		"lab: waiting for 3 node(s) to boot",
		"lab: configuring pod network routes",
		"lab: waiting for 3 node(s) to be Ready",
		"lab: writing kubeconfig",
		"lab: writing known_hosts",
	}
	if got := statusTitles(log.String()); !slices.Equal(got, want) {
		t.Errorf("second up's status lines:\n%s\nwant titles %q", log.String(), want)
	}
}

func TestJoinFailureRemovesOnlyTheNewWorker(t *testing.T) {
	for _, retain := range []bool{false, true} {
		kc := testEnv(t)
		f := newFake(t)
		spec := writeSpec(t, "lab", "1-2")
		if err := Up(context.Background(), UpOptions{File: spec, Target: f.target(), Kubeconfig: kc}); err != nil {
			t.Fatalf("up: %v", err)
		}
		m := f.mark()
		f.failRun = failJoinOn("lab3")
		err := Join(context.Background(), JoinOptions{File: spec, Name: "lab", Count: 1, Target: f.target(), Kubeconfig: kc, Retain: retain})
		if err == nil {
			t.Fatalf("retain=%v: join with a failing kubeadm join succeeded", retain)
		}
		first, note, _ := strings.Cut(err.Error(), "\n")
		want := `lab: joining 1 node(s): lab3: command "kubeadm join --config /etc/plex/kubeadm-join.yaml" exited 1: [ERROR Port-10250]: Port 10250 is in use (full output in `
		if !strings.HasPrefix(first, want) {
			t.Errorf("retain=%v: error\n%s\nwant it to start\n%s", retain, first, want)
		}
		checkOutputLog(t, err, 1, "Port 10250 is in use")
		created, deleted := f.since(m)
		if !slices.Equal(created, []string{"lab3"}) {
			t.Errorf("retain=%v: join created %v, want [lab3]", retain, created)
		}
		if retain {
			if len(deleted) > 0 || !strings.Contains(note, "kept the 1 instance(s)") {
				t.Errorf("retain: deleted %v; note %q", deleted, note)
			}
			continue
		}
		if !slices.Equal(deleted, []string{"lab3"}) || !strings.HasSuffix(first, "; removed the 1 instance(s) this run made") {
			t.Errorf("join deleted %v, want [lab3]; err %v", deleted, err)
		}
		if got := f.names(); !slices.Equal(got, []string{"lab1", "lab2"}) {
			t.Errorf("left %v, want the plex as it was", got)
		}
	}
}

// A node whose files Incus refuses is never started, and is removed with
// the rest of what the run made.
func TestUpSeedFailureRemovesTheNewNodes(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	f.failSeed = func(name string) error {
		if name == "lab2" {
			return errors.New("seeding files into lab2: disk full")
		}
		return nil
	}
	err := Up(context.Background(), UpOptions{File: writeSpec(t, "lab", "1-2"), Target: f.target(), Kubeconfig: kc})
	if err == nil || !strings.Contains(err.Error(), "creating 2 node(s): seeding files into lab2: disk full") ||
		!strings.Contains(err.Error(), "removed the 2 instance(s) this run made") {
		t.Fatalf("up with a failing seed: %v", err)
	}
	if got := f.names(); len(got) != 0 {
		t.Errorf("left %v, want nothing", got)
	}
	if got := f.ranOn(mark{}, "kubeadm"); len(got) != 0 {
		t.Errorf("kubeadm ran on %v after the seed failed", got)
	}
}

func TestJoinRefusesAPlexThatIsNotUp(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	err := Join(context.Background(), JoinOptions{File: writeSpec(t, "lab", "1-2"), Name: "lab", Count: 1, Target: f.target(), Kubeconfig: kc})
	if err == nil || !strings.Contains(err.Error(), "bring it up with `kubectl plex up`") {
		t.Fatalf("join of a plex that is not up: err = %v", err)
	}
	if created, _ := f.since(mark{}); len(created) > 0 {
		t.Errorf("join created %v", created)
	}
}

// withStdin makes b the process's standard input for the test. A pipe reads
// once: a second read of the spec would find it empty.
func withStdin(t *testing.T, b []byte) {
	t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.Write(b); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	old := os.Stdin
	os.Stdin = rd
	t.Cleanup(func() { os.Stdin = old; rd.Close() })
}

func TestUpAndJoinReadTheSpecOnce(t *testing.T) {
	kc := testEnv(t)
	f := newFake(t)
	b, err := os.ReadFile(writeSpec(t, "lab", "1-2"))
	if err != nil {
		t.Fatal(err)
	}
	withStdin(t, b)
	if err := Up(context.Background(), UpOptions{File: "-", Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("up -f -: %v", err)
	}
	withStdin(t, b)
	if err := Join(context.Background(), JoinOptions{File: "-", Name: "lab", Count: 1, Target: f.target(), Kubeconfig: kc}); err != nil {
		t.Fatalf("join -f -: %v", err)
	}
	if got := f.names(); !slices.Equal(got, []string{"lab1", "lab2", "lab3"}) {
		t.Errorf("instances %v, want lab1-3", got)
	}
}

func TestDownFailureIsOneLine(t *testing.T) {
	f, _, kc := upForDown(t)
	m := f.mark()
	f.failDelete = func(name string) error {
		if name == "lab1" || name == "lab2" {
			return errors.New("instance is busy")
		}
		return nil
	}
	err := Down(context.Background(), DownOptions{Ref: Ref{Name: "lab", Target: f.target()}, Kubeconfig: kc})
	if err == nil || err.Error() != "deleting 2 instance(s): lab1, lab2: instance is busy" {
		t.Fatalf("down with busy instances: err = %v", err)
	}
	if _, deleted := f.since(m); len(deleted) > 0 {
		t.Errorf("down deleted %v", deleted)
	}
	// Down stops at the failed step: the plex is still reachable.
	cfg, lerr := clientcmd.LoadFromFile(kc)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if _, ok := cfg.Contexts[spec.ContextName("lab")]; !ok {
		t.Errorf("down removed context %s although deleting the instances failed", spec.ContextName("lab"))
	}
}
