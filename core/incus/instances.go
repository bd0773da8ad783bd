package incus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	pathpkg "path"
	"strings"
	"time"

	incusclient "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// InstanceSpec is what plex asks Incus to create.
type InstanceSpec struct {
	Name string
	// Image is a local image alias or fingerprint.
	Image string
	// Fingerprint, when set, names the image exactly and Image is ignored:
	// an alias may move between looking it up and creating the instance.
	Fingerprint string
	// Remote image source, when the image is not on this server (for example
	// "images:debian/12/cloud"): the server URL and protocol.
	ImageServer, ImageProtocol string
	Profiles                   []string
	Config                     map[string]string
	Devices                    map[string]map[string]string
	// Target is an Incus cluster member, or "@group"; empty lets Incus choose.
	Target string
	// VM asks for a virtual machine instead of a container.
	VM bool
}

// wait waits for an operation, cancelling it when ctx ends.
func wait(ctx context.Context, op incusclient.Operation, what string) error {
	if err := op.WaitContext(ctx); err != nil {
		if ctx.Err() != nil {
			_ = op.Cancel()
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// CreateInstance creates (but does not start) an instance.
func (s *Server) CreateInstance(ctx context.Context, spec InstanceSpec) error {
	req := api.InstancesPost{
		Name: spec.Name,
		Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{
			Type:     "image",
			Alias:    spec.Image,
			Server:   spec.ImageServer,
			Protocol: spec.ImageProtocol,
		},
		InstancePut: api.InstancePut{
			Profiles: spec.Profiles,
			Config:   spec.Config,
			Devices:  spec.Devices,
		},
	}
	if spec.Fingerprint != "" {
		req.Source.Alias, req.Source.Fingerprint = "", spec.Fingerprint
	}
	if spec.VM {
		req.Type = api.InstanceTypeVM
	}
	c := s.client
	if spec.Target != "" {
		c = c.UseTarget(spec.Target)
	}
	op, err := c.CreateInstance(req)
	if err != nil {
		return fmt.Errorf("creating instance %s: %w", spec.Name, err)
	}
	return wait(ctx, op, "creating instance "+spec.Name)
}

// setState starts, stops or restarts an instance.
func (s *Server) setState(ctx context.Context, name, action string, force bool) error {
	op, err := s.client.UpdateInstanceState(name, api.InstanceStatePut{Action: action, Timeout: -1, Force: force}, "")
	if err != nil {
		return fmt.Errorf("%s instance %s: %w", strings.TrimSuffix(action, "e")+"ing", name, err)
	}
	return wait(ctx, op, action+" instance "+name)
}

// Start starts an instance; starting a running one is not an error.
func (s *Server) Start(ctx context.Context, name string) error {
	err := s.setState(ctx, name, "start", false)
	if err != nil && strings.Contains(err.Error(), "already running") {
		return nil
	}
	return err
}

// Stop stops an instance, forcibly when force is set; stopping a stopped one
// is not an error.
func (s *Server) Stop(ctx context.Context, name string, force bool) error {
	err := s.setState(ctx, name, "stop", force)
	if err != nil && strings.Contains(err.Error(), "already stopped") {
		return nil
	}
	return err
}

// Delete stops (forcibly) and deletes an instance. A missing instance is not
// an error.
func (s *Server) Delete(ctx context.Context, name string) error {
	in, _, err := s.client.GetInstance(name)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("looking up instance %s: %w", name, err)
	}
	if in.StatusCode != api.Stopped {
		if err := s.Stop(ctx, name, true); err != nil {
			return err
		}
	}
	op, err := s.client.DeleteInstance(name)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("deleting instance %s: %w", name, err)
	}
	return wait(ctx, op, "deleting instance "+name)
}

// GetInstance returns one instance, or an error that IsNotFound recognises.
func (s *Server) GetInstance(ctx context.Context, name string) (*Instance, error) {
	in, _, err := s.client.GetInstance(name)
	if err != nil {
		return nil, err
	}
	return &Instance{Name: in.Name, Status: in.Status, Location: in.Location, Config: in.Config}, nil
}

// ExecError is a command that failed inside an instance. It keeps the
// command and its output, so the user sees why.
type ExecError struct {
	Instance string
	Command  []string
	Code     int
	Output   string
}

func (e *ExecError) Error() string {
	out := strings.TrimSpace(e.Output)
	if len(out) > 4000 {
		out = "…" + out[len(out)-4000:]
	}
	return fmt.Sprintf("command %q in %s exited %d:\n%s", strings.Join(e.Command, " "), e.Instance, e.Code, out)
}

// ExecOptions tune Exec.
type ExecOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    map[string]string
}

// Exec runs a command in an instance and returns its exit code.
func (s *Server) Exec(ctx context.Context, name string, cmd []string, o ExecOptions) (int, error) {
	done := make(chan bool)
	args := &incusclient.InstanceExecArgs{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, DataDone: done}
	if args.Stdin == nil {
		args.Stdin = bytes.NewReader(nil)
	}
	if args.Stdout == nil {
		args.Stdout = io.Discard
	}
	if args.Stderr == nil {
		args.Stderr = io.Discard
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
	for k, v := range o.Env {
		env[k] = v
	}
	op, err := s.client.ExecInstance(name, api.InstanceExecPost{Command: cmd, WaitForWS: true, Environment: env}, args)
	if err != nil {
		return -1, fmt.Errorf("running %q in %s: %w", strings.Join(cmd, " "), name, err)
	}
	if err := wait(ctx, op, fmt.Sprintf("running %q in %s", strings.Join(cmd, " "), name)); err != nil {
		return -1, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return -1, ctx.Err()
	case <-time.After(30 * time.Second):
	}
	code, ok := op.Get().Metadata["return"].(float64)
	if !ok {
		return -1, fmt.Errorf("running %q in %s: no exit code in the operation", strings.Join(cmd, " "), name)
	}
	return int(code), nil
}

// Run runs a command in an instance and returns its combined output. A
// non-zero exit is an *ExecError with the output.
func (s *Server) Run(ctx context.Context, name string, cmd ...string) (string, error) {
	return s.RunInput(ctx, name, nil, cmd...)
}

// RunInput is Run with standard input.
func (s *Server) RunInput(ctx context.Context, name string, stdin io.Reader, cmd ...string) (string, error) {
	var buf lockedBuffer
	code, err := s.Exec(ctx, name, cmd, ExecOptions{Stdin: stdin, Stdout: &buf, Stderr: &buf})
	if err != nil {
		return buf.String(), err
	}
	if code != 0 {
		return buf.String(), &ExecError{Instance: name, Command: cmd, Code: code, Output: buf.String()}
	}
	return buf.String(), nil
}

// PushFile writes a file into an instance with mode, creating its parent
// directories.
func (s *Server) PushFile(ctx context.Context, name, path string, content []byte, mode int) error {
	if _, err := s.Run(ctx, name, "mkdir", "-p", pathpkg.Dir(path)); err != nil {
		return err
	}
	err := retryTransient(ctx, func() error {
		return s.client.CreateInstanceFile(name, path, incusclient.InstanceFileArgs{
			Content: bytes.NewReader(content), Mode: mode, Type: "file", WriteMode: "overwrite",
		})
	})
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", path, name, err)
	}
	return nil
}

// PullFile reads a file from an instance.
func (s *Server) PullFile(ctx context.Context, name, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := retryTransient(ctx, func() error {
		rc, _, err := s.client.GetInstanceFile(name, path)
		if err != nil {
			return err
		}
		defer rc.Close()
		out, err = io.ReadAll(rc)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, name, err)
	}
	return out, nil
}

// retryTransient retries a file transfer that failed on the way, not on
// the file: incusd's file helper in the instance (forkfile) sometimes drops
// the connection under load. Transfers overwrite, so a retry is safe.
func retryTransient(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < 4; i++ {
		err = f()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i+1) * 250 * time.Millisecond):
		}
	}
	return err
}

func transient(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection reset by peer", "forkfile", "broken pipe", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Addresses returns the instance's global IPv4 addresses by interface.
func (s *Server) Addresses(ctx context.Context, name string) (map[string][]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, _, err := s.client.GetInstanceState(name)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", name, err)
	}
	out := map[string][]string{}
	for nic, n := range st.Network {
		for _, a := range n.Addresses {
			if a.Family == "inet" && a.Scope == "global" {
				out[nic] = append(out[nic], a.Address)
			}
		}
	}
	return out, nil
}
