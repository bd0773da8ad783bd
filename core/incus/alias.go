package incus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"gopkg.in/yaml.v3"
)

// AliasChange says what InstallAlias or RemoveAlias did to the incus client
// configuration.
type AliasChange struct {
	// ConfigPath is the config.yml that was read (and written when Changed).
	ConfigPath string
	Name       string
	// Value is the alias's value now ("" once removed); Previous its value
	// before ("" when there was none).
	Value, Previous string
	Changed         bool
}

// InstallAlias sets the incus CLI alias name to value in the client
// configuration (configPath, or the CLI's own when empty), as `incus alias
// add` does. A value starting with "/" makes the CLI run that program
// directly: `incus NAME args…` runs `value args…`. Setting the value it
// already has changes nothing. Everything else in the file (remotes, other
// aliases, keys plex does not know, comments) is kept.
func InstallAlias(configPath, name, value string) (AliasChange, error) {
	if name == "" {
		return AliasChange{}, errors.New("installing an incus alias: the alias name is empty")
	}
	f, err := openAliasFile(configPath)
	if err != nil {
		return AliasChange{}, err
	}
	ch := AliasChange{ConfigPath: f.path, Name: name, Value: value}
	prev, _, err := f.get(name)
	if err != nil {
		return ch, err
	}
	ch.Previous = prev
	if prev == value {
		return ch, nil
	}
	if err := f.set(name, value); err != nil {
		return ch, err
	}
	if err := f.save(); err != nil {
		return ch, err
	}
	ch.Changed = true
	return ch, nil
}

// RemoveAlias deletes the incus CLI alias name; a missing alias (or a missing
// file) changes nothing.
func RemoveAlias(configPath, name string) (AliasChange, error) {
	f, err := openAliasFile(configPath)
	if err != nil {
		return AliasChange{}, err
	}
	ch := AliasChange{ConfigPath: f.path, Name: name}
	prev, found, err := f.get(name)
	if err != nil || !found {
		return ch, err
	}
	ch.Previous = prev
	f.remove(name)
	if err := f.save(); err != nil {
		return ch, err
	}
	ch.Changed = true
	return ch, nil
}

// freshClientConfig is what `incus alias add` writes when there is no
// config.yml yet (the CLI's defaults), so that creating the file for an alias
// does not lose the "images" remote the defaults provide.
const freshClientConfig = `default-remote: local
remotes:
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
  local:
    addr: unix://
    protocol: incus
    public: false
aliases: {}
`

// aliasFile is config.yml held as a YAML tree rather than decoded into a
// struct, so that plex changes its own alias and leaves every other key,
// remote and comment as the user (or a newer CLI) wrote it.
type aliasFile struct {
	path string
	// info is the existing file's, nil for a new one.
	info fs.FileInfo
	// prefix is a comments-only file's text, which the YAML tree drops.
	prefix []byte
	doc    *yaml.Node
	root   *yaml.Node
}

func openAliasFile(configPath string) (*aliasFile, error) {
	f := &aliasFile{path: configPath}
	if f.path == "" {
		if _, f.path = clientConfigLocation(); f.path == "" {
			return nil, errors.New("finding the incus client configuration: neither INCUS_CONF nor a home directory is set; set one of them, or give the path of config.yml")
		}
	}
	b, err := os.ReadFile(f.path)
	switch {
	case err == nil:
		if f.info, err = os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("reading the incus client configuration %s: %w", f.path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		b = []byte(freshClientConfig)
	default:
		return nil, fmt.Errorf("reading the incus client configuration %s: %w", f.path, err)
	}

	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing the incus client configuration %s: %w; fix the YAML, or move the file away to start again from the defaults", f.path, err)
	}
	// The CLI reads only the first document; rewriting the file would
	// silently drop the others.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing the incus client configuration %s: it holds more than one YAML document (---) and the incus CLI reads only the first; remove the others", f.path)
	}
	if doc.Kind == 0 {
		// Empty, or comments only: the tree has nothing to hold the comments.
		if len(bytes.TrimSpace(b)) > 0 {
			f.prefix = b
			if !bytes.HasSuffix(f.prefix, []byte("\n")) {
				f.prefix = append(f.prefix, '\n')
			}
		}
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	f.doc, f.root = &doc, doc.Content[0]
	if f.root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parsing the incus client configuration %s: its top level is not a mapping of keys (default-remote, remotes, aliases); fix the file", f.path)
	}
	return f, nil
}

// aliases is the aliases mapping, created when create is set and it is
// missing or empty ("aliases:" with no value).
func (f *aliasFile) aliases(create bool) (*yaml.Node, error) {
	at := -1
	for i := 0; i+1 < len(f.root.Content); i += 2 {
		if k := f.root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "aliases" {
			at = i + 1 // the last one wins, as when the CLI decodes it
		}
	}
	if at >= 0 {
		v := f.root.Content[at]
		switch {
		case v.Kind == yaml.MappingNode:
			return v, nil
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			if !create {
				return nil, nil
			}
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: v.HeadComment, LineComment: v.LineComment, FootComment: v.FootComment}
			f.root.Content[at] = m
			return m, nil
		default:
			return nil, fmt.Errorf("reading aliases from the incus client configuration %s: aliases is not a mapping of name: command; fix the file", f.path)
		}
	}
	if !create {
		return nil, nil
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	f.root.Content = append(f.root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "aliases"}, m)
	return m, nil
}

// entries are the indexes of name's keys in the aliases mapping m.
func entries(m *yaml.Node, name string) []int {
	var at []int
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == name {
			at = append(at, i)
		}
	}
	return at
}

func (f *aliasFile) get(name string) (value string, found bool, err error) {
	m, err := f.aliases(false)
	if err != nil || m == nil {
		return "", false, err
	}
	at := entries(m, name)
	if len(at) == 0 {
		return "", false, nil
	}
	v := m.Content[at[len(at)-1]+1]
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind != yaml.ScalarNode {
		return "", true, fmt.Errorf("reading alias %q from the incus client configuration %s: its value is not a string; fix the file", name, f.path)
	}
	if v.Tag == "!!null" {
		return "", true, nil
	}
	return v.Value, true, nil
}

func (f *aliasFile) set(name, value string) error {
	m, err := f.aliases(true)
	if err != nil {
		return err
	}
	// Encoding through yaml quotes what a YAML 1.1 reader (the CLI) would
	// otherwise take for a bool or a number.
	var v yaml.Node
	if err := v.Encode(value); err != nil {
		return fmt.Errorf("encoding alias %q: %w", name, err)
	}
	at := entries(m, name)
	if len(at) == 0 {
		var k yaml.Node
		if err := k.Encode(name); err != nil {
			return fmt.Errorf("encoding alias %q: %w", name, err)
		}
		// The CLI writes an empty map as "{}"; its first entry reads better
		// as a block than as "{name: value}".
		if len(m.Content) == 0 {
			m.Style &^= yaml.FlowStyle
		}
		m.Content = append(m.Content, &k, &v)
		return nil
	}
	last := at[len(at)-1]
	old := m.Content[last+1]
	v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
	m.Content[last+1] = &v
	// Earlier duplicates would be dead text that the next reader might
	// trust; drop them, back to front so the indexes hold.
	for i := len(at) - 2; i >= 0; i-- {
		m.Content = append(m.Content[:at[i]], m.Content[at[i]+2:]...)
	}
	return nil
}

func (f *aliasFile) remove(name string) {
	m, _ := f.aliases(false)
	if m == nil {
		return
	}
	at := entries(m, name)
	for i := len(at) - 1; i >= 0; i-- {
		m.Content = append(m.Content[:at[i]], m.Content[at[i]+2:]...)
	}
}

func (f *aliasFile) save() error {
	var buf bytes.Buffer
	buf.Write(f.prefix)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // as the CLI writes it
	if err := enc.Encode(f.doc); err != nil {
		return fmt.Errorf("encoding the incus client configuration %s: %w", f.path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encoding the incus client configuration %s: %w", f.path, err)
	}
	return writeFileAtomic(f.path, buf.Bytes(), f.info)
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so that an incus command running meanwhile reads the old or the new
// file, never half of one. info is the existing file's (nil for a new one):
// its mode and owner carry over, and a symlinked config.yml (dotfiles) keeps
// its link, the target being replaced instead.
func writeFileAtomic(path string, data []byte, info fs.FileInfo) error {
	target := path
	mode := fs.FileMode(0o600)
	if info != nil {
		mode = info.Mode().Perm()
		if t, err := filepath.EvalSymlinks(path); err == nil {
			target = t
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("creating the incus client configuration directory %s: %w", filepath.Dir(path), err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(target), ".config.yml.plex-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Run as root on a user's file, the rename would otherwise hand the
	// file to root and lock the user's incus out of it. Best effort: only
	// root can give a file away.
	if info != nil {
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
			_ = tmp.Chown(int(st.Uid), int(st.Gid))
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	done = true
	return nil
}
