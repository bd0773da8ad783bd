package app

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plex-dev/plex/core/cluster"
	"github.com/plex-dev/plex/core/flux"
	"github.com/plex-dev/plex/core/status"
)

const (
	omniplexSpec = "../../../examples/omniplex.yaml"
	knownHosts   = "../../../core/flux/testdata/known_hosts"
)

// recording is a core that writes down the options each call gets, and
// answers like a plex that is up, so that the verbs print what they print.
func recording(calls *[]string) core {
	rec := func(verb string, o any) {
		*calls = append(*calls, verb+" "+describe(reflect.ValueOf(o)))
	}
	return core{
		plan: func(ctx context.Context, o cluster.PlanOptions) (*cluster.PlanResult, error) {
			rec("plan", o)
			o.Offline = true
			return cluster.Plan(ctx, o)
		},
		up:    func(_ context.Context, o cluster.UpOptions) error { rec("up", o); return nil },
		join:  func(_ context.Context, o cluster.JoinOptions) error { rec("join", o); return nil },
		drain: func(_ context.Context, o cluster.DrainOptions) error { rec("drain", o); return nil },
		down:  func(_ context.Context, o cluster.DownOptions) error { rec("down", o); return nil },
		status: func(_ context.Context, o cluster.StatusOptions) ([]cluster.PlexStatus, error) {
			rec("status", o)
			return []cluster.PlexStatus{{Name: "omniplex", Remote: "local", Endpoint: "https://10.212.0.11:6443",
				Nodes: []cluster.NodeStatus{{Name: "omniplex1", Role: "control-plane", Address: "10.212.0.11", Incus: "Running", Kubernetes: "Ready"}}}}, nil
		},
		snapshot: func(_ context.Context, o cluster.SnapshotOptions) (string, error) {
			rec("snapshot", o)
			return "20261202-031500", nil
		},
		restore: func(_ context.Context, o cluster.RestoreOptions) error { rec("restore", o); return nil },
		listSnapshots: func(_ context.Context, o cluster.SnapshotListOptions) ([]cluster.PlexSnapshot, error) {
			rec("listSnapshots", o)
			return []cluster.PlexSnapshot{{Name: "s1", SpecHash: "0123456789abcdef", Nodes: []string{"omniplex1", "omniplex2"}}}, nil
		},
		deleteSnapshot: func(_ context.Context, o cluster.DeleteSnapshotOptions) error { rec("deleteSnapshot", o); return nil },
		kubeconfig: func(_ context.Context, o cluster.KubeconfigOptions) ([]byte, error) {
			rec("kubeconfig", o)
			return []byte("apiVersion: v1\nkind: Config\n"), nil
		},
		sshCommand: func(_ context.Context, o cluster.SSHOptions) ([]string, error) {
			rec("sshCommand", o)
			return append([]string{"ssh", "root@10.212.0.11"}, o.Args...), nil
		},
		fluxstrap: func(_ context.Context, o flux.StrapOptions) (*flux.StrapResult, error) {
			rec("fluxstrap", o)
			return &flux.StrapResult{}, nil
		},
		exec: func(argv []string) error { rec("exec", argv); return nil },
	}
}

// loggerOf is v's *status.Logger, when it holds a set one.
func loggerOf(v reflect.Value) (*status.Logger, bool) {
	if !v.CanInterface() {
		return nil, false
	}
	l, ok := v.Interface().(*status.Logger)
	return l, ok && l != nil
}

// describe spells out options for comparison: values as they are, and for
// pointers to other structs and interfaces (writers) only whether they are
// set, since a new run makes new ones; a Logger by its verbosity.
func describe(v reflect.Value) string {
	if l, ok := loggerOf(v); ok {
		return fmt.Sprintf("logger{verbose:%t}", l.Verbose)
	}
	switch v.Kind() {
	case reflect.Struct:
		parts := make([]string, v.NumField())
		for i := range parts {
			parts[i] = v.Type().Field(i).Name + ":" + describe(v.Field(i))
		}
		return "{" + strings.Join(parts, " ") + "}"
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		if v.Elem().Kind() == reflect.Struct {
			return "set"
		}
		return describe(v.Elem())
	case reflect.Interface, reflect.Func, reflect.Map, reflect.Chan:
		if v.IsNil() {
			return "nil"
		}
		return "set"
	case reflect.Slice:
		if v.IsNil() {
			return "nil"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = describe(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	}
	return v.Kind().String()
}

// outcome is everything a run of a verb shows: what it asked of core, what
// it printed, and its error.
type outcome struct {
	calls    []string
	out, err string
}

func runRecorded(args ...string) outcome {
	var calls []string
	var out bytes.Buffer
	cmd := newCommand(Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out}, recording(&calls))
	cmd.SetArgs(args)
	o := outcome{calls: calls}
	if err := cmd.Execute(); err != nil {
		o.err = err.Error()
	}
	o.calls, o.out = calls, out.String()
	return o
}

// baselines run each verb with every optional flag at its default.
var baselines = map[string][]string{
	"plan":            {"-f", omniplexSpec},
	"up":              {"-f", omniplexSpec},
	"join":            {"-f", omniplexSpec, "omniplex", "4"},
	"drain":           {"omniplex3"},
	"down":            {"omniplex"},
	"status":          {},
	"snapshot":        {"omniplex"},
	"restore":         {"omniplex", "s1"},
	"snapshot list":   {"omniplex"},
	"snapshot delete": {"omniplex", "s1"},
	"kubeconfig":      {"omniplex"},
	"ssh":             {"omniplex1"},
	"fluxstrap":       {"omniplex", "--url", "https://example.com/fleet"},
	"version":         {},
}

// testValue is a value for flag f that differs from its default and from
// the baselines, and that the verb accepts.
func testValue(t *testing.T, f *pflag.Flag) string {
	switch f.Name {
	case "file":
		return "./" + omniplexSpec
	case "output":
		return "json"
	case "url":
		return "ssh://git@example.com/fleet"
	case "ssh-known-hosts":
		return knownHosts
	}
	switch f.Value.Type() {
	case "bool":
		b, _ := strconv.ParseBool(f.DefValue)
		return strconv.FormatBool(!b)
	case "int":
		return "7"
	case "duration":
		return "7s"
	case "string":
		return "other"
	case "stringSlice", "stringArray":
		return "a,b"
	}
	t.Fatalf("flag --%s: no test value for type %s; add one", f.Name, f.Value.Type())
	return ""
}

// TestEveryFlagIsRead runs each verb with each of its flags, and wants every
// flag to change what the verb asks of core, prints, or says is wrong: a flag
// that is accepted and changes nothing misleads.
func TestEveryFlagIsRead(t *testing.T) {
	root := newCommand(Streams{}, recording(new([]string)))
	var verbs []*cobra.Command
	for _, verb := range root.Commands() {
		verbs = append(verbs, verb)
		verbs = append(verbs, verb.Commands()...) // snapshot list, snapshot delete
	}
	for _, verb := range verbs {
		name := strings.TrimPrefix(verb.CommandPath(), root.CommandPath()+" ")
		if name == "help" || name == "completion" || strings.HasPrefix(name, "completion ") {
			continue
		}
		base, ok := baselines[name]
		if !ok {
			t.Errorf("verb %s has no baseline in this test: add one", name)
			continue
		}
		args := append(strings.Fields(name), base...)
		want := runRecorded(args...)
		if want.err != "" {
			t.Fatalf("%v: %s", args, want.err)
		}
		var flags []*pflag.Flag
		verb.Flags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		verb.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		for _, f := range flags {
			if f.Name == "help" {
				continue
			}
			with := append(append([]string{}, args...), "--"+f.Name+"="+testValue(t, f))
			got := runRecorded(with...)
			if reflect.DeepEqual(got, want) {
				t.Errorf("%s: --%s is registered but changes nothing: read it, or do not register it", strings.Join(with, " "), f.Name)
			}
		}
	}
}

// TestKubeconfigFlag checks that --kubeconfig reaches the options of the
// verbs that write or remove a context, and only those take it.
func TestKubeconfigFlag(t *testing.T) {
	for _, args := range [][]string{
		{"up", "-f", omniplexSpec},
		{"join", "-f", omniplexSpec, "omniplex", "--count", "1"},
		{"down", "omniplex"},
		{"kubeconfig", "omniplex", "--merge"},
	} {
		got := runRecorded(append(args, "--kubeconfig", "/tmp/lab.conf")...)
		if got.err != "" || len(got.calls) != 1 || !strings.Contains(got.calls[0], `Kubeconfig:"/tmp/lab.conf"`) {
			t.Errorf("%v --kubeconfig /tmp/lab.conf: calls %q, error %q", args, got.calls, got.err)
		}
	}
	root := newCommand(Streams{}, recording(new([]string)))
	if got, want := kubeconfigReaders(root), []string{"down", "join", "kubeconfig", "up"}; !reflect.DeepEqual(got, want) {
		t.Errorf("verbs with --kubeconfig: %v, want %v", got, want)
	}

	got := runRecorded("kubeconfig", "omniplex", "--kubeconfig", "/tmp/lab.conf")
	if !strings.Contains(got.err, "add --merge, or drop --kubeconfig") || len(got.calls) != 0 {
		t.Errorf("kubeconfig --kubeconfig without --merge: calls %q, error %q", got.calls, got.err)
	}
}

// TestKubectlFlagsAreClearErrors checks that kubectl's connection flags,
// which plex cannot honour, are refused with the reason and what to do,
// rather than accepted and ignored.
func TestKubectlFlagsAreClearErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", "--context", "plex-other"}, []string{"unknown flag: --context", "admin kubeconfig on the plex's control-plane node", "Name the plex instead", "down, join, kubeconfig, up"}},
		{[]string{"drain", "omniplex3", "--context=plex-omniplex"}, []string{"unknown flag: --context", "Name the plex instead"}},
		{[]string{"fluxstrap", "omniplex", "--server", "https://10.0.0.1:6443"}, []string{"unknown flag: --server", "connection flags"}},
		{[]string{"status", "-n", "kube-system"}, []string{"unknown shorthand flag: 'n' in -n", "connection flags"}},
		{[]string{"up", "-f", omniplexSpec, "--token", "x"}, []string{"unknown flag: --token", "connection flags"}},
		{[]string{"status", "--kubeconfig", "/tmp/lab.conf"}, []string{"unknown flag: --kubeconfig", "status reads no kubeconfig file", "--kubeconfig is for down, join, kubeconfig, up", "drop it here"}},
		{[]string{"status", "--frobnicate"}, []string{"unknown flag: --frobnicate"}},
	} {
		got := runRecorded(tc.args...)
		if len(got.calls) != 0 {
			t.Errorf("%v called core: %q", tc.args, got.calls)
		}
		for _, w := range tc.want {
			if !strings.Contains(got.err, w) {
				t.Errorf("%v: error %q lacks %q", tc.args, got.err, w)
			}
		}
	}
	if got := runRecorded("status", "--frobnicate"); strings.Contains(got.err, "kubectl") {
		t.Errorf("a flag kubectl does not have either is explained as kubectl's: %q", got.err)
	}
}

// TestHelpSaysWhichVerbsTakeKubeconfig holds the help to the flags: the root
// help names the verbs that take --kubeconfig, and each verb's help lists it
// exactly when the verb takes it.
func TestHelpSaysWhichVerbsTakeKubeconfig(t *testing.T) {
	out, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--kubeconfig only", "up, join, down, and kubeconfig\n--merge", "--context"} {
		if !strings.Contains(out, w) {
			t.Errorf("root help lacks %q:\n%s", w, out)
		}
	}
	root := newCommand(Streams{}, recording(new([]string)))
	var verbs []string
	for _, c := range root.Commands() {
		verbs = append(verbs, c.Name())
	}
	sort.Strings(verbs)
	readers := map[string]bool{}
	for _, v := range kubeconfigReaders(root) {
		readers[v] = true
	}
	for _, v := range verbs {
		if v == "help" {
			continue
		}
		out, err := run(t, v, "--help")
		if err != nil {
			t.Fatalf("%s --help: %v", v, err)
		}
		_, flags, _ := strings.Cut(out, "\nFlags:\n")
		if has := strings.Contains(flags, "--kubeconfig"); has != readers[v] {
			t.Errorf("%s --help lists --kubeconfig: %v, but the verb takes it: %v", v, has, readers[v])
		}
		if strings.Contains(flags, "--context") || strings.Contains(flags, "--server") {
			t.Errorf("%s --help lists a kubectl flag plex does not take:\n%s", v, flags)
		}
	}
}
