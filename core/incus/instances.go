package incus

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/plex-dev/plex/core/incus/internal/rest"
)

// Instance is what plex needs to know about an Incus instance.
type Instance struct {
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Location string            `json:"location,omitempty"`
	Config   map[string]string `json:"-"`
}

// Managed reports whether plex created this instance.
func (i Instance) Managed() bool { return IsManaged(i.Config) }

// Plex is the plex this instance belongs to, or "".
func (i Instance) Plex() string {
	if !i.Managed() {
		return ""
	}
	return i.Config[LabelPlex]
}

// instanceJSON is an instance as /1.0/instances/{name} gives it: the
// writable part, which a read-modify-write sends back whole, and the state.
type instanceJSON struct {
	instancePut
	Name       string `json:"name"`
	Status     string `json:"status"`
	StatusCode int    `json:"status_code"`
	Location   string `json:"location"`
}

// instancePut is the writable part of an instance (PUT /1.0/instances/{name}).
type instancePut struct {
	Architecture string                       `json:"architecture"`
	Config       map[string]string            `json:"config"`
	Devices      map[string]map[string]string `json:"devices"`
	Ephemeral    bool                         `json:"ephemeral"`
	Profiles     []string                     `json:"profiles"`
	Stateful     bool                         `json:"stateful"`
	Description  string                       `json:"description"`
}

func (in instanceJSON) instance() Instance {
	return Instance{Name: in.Name, Status: in.Status, Location: in.Location, Config: in.Config}
}

// instanceStopped is Incus's status code of a stopped instance.
const instanceStopped = 102

// ListInstances lists every instance in the server's project. Callers decide
// by labels what is theirs.
func (s *Server) ListInstances(ctx context.Context) ([]Instance, error) {
	var all []instanceJSON
	_, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("instances"), Query: map[string][]string{"recursion": {"1"}}}, &all)
	if err != nil {
		return nil, fmt.Errorf("listing instances on incus remote %q (project %q): %w", s.Remote, s.Project, err)
	}
	out := make([]Instance, 0, len(all))
	for _, in := range all {
		out = append(out, in.instance())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func (s *Server) getInstance(ctx context.Context, name string) (*instanceJSON, string, error) {
	var in instanceJSON
	etag, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("instances", name)}, &in)
	if err != nil {
		return nil, "", err
	}
	return &in, etag, nil
}

// GetInstance returns one instance, or an error that IsNotFound recognises.
func (s *Server) GetInstance(ctx context.Context, name string) (*Instance, error) {
	in, _, err := s.getInstance(ctx, name)
	if err != nil {
		return nil, err
	}
	out := in.instance()
	return &out, nil
}

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

type instancesPost struct {
	Name     string                       `json:"name"`
	Type     string                       `json:"type"`
	Source   instanceSource               `json:"source"`
	Profiles []string                     `json:"profiles"`
	Config   map[string]string            `json:"config,omitempty"`
	Devices  map[string]map[string]string `json:"devices,omitempty"`
}

type instanceSource struct {
	Type        string `json:"type"`
	Alias       string `json:"alias,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Server      string `json:"server,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	Mode        string `json:"mode,omitempty"`
}

// CreateInstance creates (but does not start) an instance.
func (s *Server) CreateInstance(ctx context.Context, spec InstanceSpec) error {
	req := instancesPost{
		Name:     spec.Name,
		Type:     "container",
		Source:   instanceSource{Type: "image", Alias: spec.Image, Server: spec.ImageServer, Protocol: spec.ImageProtocol},
		Profiles: spec.Profiles,
		Config:   spec.Config,
		Devices:  spec.Devices,
	}
	if req.Profiles == nil {
		req.Profiles = []string{"default"}
	}
	if spec.ImageServer != "" {
		req.Source.Mode = "pull"
	}
	if spec.Fingerprint != "" {
		req.Source.Alias, req.Source.Fingerprint = "", spec.Fingerprint
	}
	if spec.VM {
		req.Type = "virtual-machine"
	}
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodPost, Path: rest.Path("instances"), Target: spec.Target, Body: req})
	if err != nil {
		return fmt.Errorf("creating instance %s: %w", spec.Name, err)
	}
	return nil
}

type statePut struct {
	Action  string `json:"action"`
	Timeout int    `json:"timeout"`
	Force   bool   `json:"force"`
}

// setState starts or stops an instance.
func (s *Server) setState(ctx context.Context, name string, st statePut) error {
	_, err := s.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("instances", name, "state"), Body: st})
	return err
}

// Start starts an instance; starting a running one is not an error.
func (s *Server) Start(ctx context.Context, name string) error {
	err := s.setState(ctx, name, statePut{Action: "start", Timeout: -1})
	if err != nil && !alreadyIn(err, "running") {
		return fmt.Errorf("starting instance %s: %w", name, err)
	}
	return nil
}

// Freeze pauses every process of a running instance (its cgroup freezer);
// freezing a frozen one is not an error.
func (s *Server) Freeze(ctx context.Context, name string) error {
	err := s.setState(ctx, name, statePut{Action: "freeze", Timeout: -1})
	if err != nil && !alreadyIn(err, "frozen") {
		return fmt.Errorf("freezing instance %s: %w", name, err)
	}
	return nil
}

// Unfreeze resumes a frozen instance; one that is not frozen is left as it
// is.
func (s *Server) Unfreeze(ctx context.Context, name string) error {
	err := s.setState(ctx, name, statePut{Action: "unfreeze", Timeout: -1})
	if err != nil && !alreadyIn(err, "running") {
		return fmt.Errorf("thawing instance %s: %w", name, err)
	}
	return nil
}

// Stop stops an instance, forcibly when force is set; stopping a stopped one
// is not an error.
func (s *Server) Stop(ctx context.Context, name string, force bool) error {
	err := s.setState(ctx, name, statePut{Action: "stop", Timeout: -1, Force: force})
	if err != nil && !alreadyIn(err, "stopped") {
		return fmt.Errorf("stopping instance %s: %w", name, err)
	}
	return nil
}

// Shutdown stops an instance cleanly, giving its init up to timeout, and
// stops it forcibly when that runs out. Stopping a stopped instance is not
// an error.
func (s *Server) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	secs := max(int(timeout/time.Second), 1)
	err := s.setState(ctx, name, statePut{Action: "stop", Timeout: secs})
	if err == nil || alreadyIn(err, "stopped") {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if ferr := s.Stop(ctx, name, true); ferr != nil {
		return fmt.Errorf("stopping instance %s: a clean shutdown failed (%v), and so did a forced stop: %w", name, err, ferr)
	}
	return nil
}

// alreadyIn tells Incus's refusal to start a running instance (or stop a
// stopped one) from a real failure. Incus answers both with 400 and a text
// only ("The instance is already running"), so the text is all there is.
func alreadyIn(err error, state string) bool {
	st := rest.StatusOf(err)
	return (st == http.StatusBadRequest || st == http.StatusInternalServerError) && strings.Contains(err.Error(), "already "+state)
}

// Delete stops (forcibly) and deletes an instance. A missing instance is not
// an error.
func (s *Server) Delete(ctx context.Context, name string) error {
	in, _, err := s.getInstance(ctx, name)
	if err != nil {
		if IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("looking up instance %s: %w", name, err)
	}
	if in.StatusCode != instanceStopped {
		if err := s.Stop(ctx, name, true); err != nil {
			return err
		}
	}
	_, err = s.c.Do(ctx, rest.Request{Method: http.MethodDelete, Path: rest.Path("instances", name)})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting instance %s: %w", name, err)
	}
	return nil
}

// SetInstanceConfig sets (or, with an empty value, removes) config keys of an
// instance, leaving the others as they are. The write carries the ETag of
// the read, so a change made in between is not overwritten: the whole
// read-modify-write is tried again.
func (s *Server) SetInstanceConfig(ctx context.Context, name string, kv map[string]string) error {
	for attempt := 0; ; attempt++ {
		in, etag, err := s.getInstance(ctx, name)
		if err != nil {
			return fmt.Errorf("reading instance %s: %w", name, err)
		}
		if in.Config == nil {
			in.Config = map[string]string{}
		}
		changed := false
		for k, v := range kv {
			if in.Config[k] == v {
				continue
			}
			changed = true
			if v == "" {
				delete(in.Config, k)
			} else {
				in.Config[k] = v
			}
		}
		if !changed {
			return nil
		}
		put := in.instancePut
		_, err = s.c.Do(ctx, rest.Request{Method: http.MethodPut, Path: rest.Path("instances", name), ETag: etag, Body: put})
		if rest.IsPreconditionFailed(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("updating the config of instance %s: %w", name, err)
		}
		return nil
	}
}

// Addresses returns the instance's global IPv4 addresses by interface.
func (s *Server) Addresses(ctx context.Context, name string) (map[string][]string, error) {
	var st struct {
		Network map[string]struct {
			Addresses []struct {
				Family  string `json:"family"`
				Address string `json:"address"`
				Scope   string `json:"scope"`
			} `json:"addresses"`
		} `json:"network"`
	}
	if _, err := s.c.Sync(ctx, rest.Request{Method: http.MethodGet, Path: rest.Path("instances", name, "state")}, &st); err != nil {
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
