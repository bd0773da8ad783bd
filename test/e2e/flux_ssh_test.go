//go:build e2e

package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshGitServer serves the gitServer's repositories over SSH, the way a Git
// host does for deploy keys: it runs git-upload-pack for a key it was told to
// authorize, and refuses every other key and command.
type sshGitServer struct {
	t    *testing.T
	root string
	// Addr is host:port; the repository is ssh://git@Addr/fleet.git.
	Addr string

	mu   sync.Mutex
	keys map[string]bool // authorized public keys, wire format
}

func startSSHGitServer(t *testing.T, g *gitServer, listenAddr string) *sshGitServer {
	t.Helper()
	s := &sshGitServer{t: t, root: g.root, keys: map[string]bool{}}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.keys[string(k.Marshal())] {
			return &ssh.Permissions{}, nil
		}
		return nil, errors.New("key not authorized")
	}}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		t.Fatalf("ssh git server: listening on %s: %v", listenAddr, err)
	}
	s.Addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cfg)
		}
	}()
	return s
}

// URL is the repository's SSH clone URL.
func (s *sshGitServer) URL() string { return "ssh://git@" + s.Addr + "/fleet.git" }

// authorize adds a public key, given as an authorized_keys line.
func (s *sshGitServer) authorize(line string) {
	s.t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		s.t.Fatalf("deploy key %q: %v", line, err)
	}
	s.mu.Lock()
	s.keys[string(k.Marshal())] = true
	s.mu.Unlock()
}

func (s *sshGitServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		s.t.Logf("ssh git server: handshake from %s: %v", c.RemoteAddr(), err)
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(conn.RemoteAddr().String(), ch, creqs)
	}
}

// session runs one `git-upload-pack '/fleet.git'` exec request.
func (s *sshGitServer) session(from string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL" {
				env = append(env, "GIT_PROTOCOL="+kv.Value)
			}
			_ = req.Reply(true, nil)
		case "exec":
			var cmd struct{ Command string }
			if ssh.Unmarshal(req.Payload, &cmd) != nil {
				_ = req.Reply(false, nil)
				return
			}
			name, arg, _ := strings.Cut(cmd.Command, " ")
			repo := filepath.Join(s.root, filepath.Clean("/"+strings.Trim(arg, "'\"")))
			if name != "git-upload-pack" || !strings.HasPrefix(repo, s.root+string(filepath.Separator)) {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			s.t.Logf("ssh git server: %s from %s", cmd.Command, from)
			c := exec.Command("git", "upload-pack", repo)
			c.Env = append(os.Environ(), env...)
			c.Stdout, c.Stderr = ch, ch.Stderr()
			// Not c.Stdin = ch: Wait would then wait for the client to close
			// its side, which it does only after the exit status.
			stdin, err := c.StdinPipe()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(stdin, ch)
				stdin.Close()
			}()
			code := uint32(0)
			if err := c.Run(); err != nil {
				code = 1
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = uint32(ee.ExitCode())
				}
			}
			_ = ch.CloseWrite()
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, code)
			_, _ = ch.SendRequest("exit-status", false, status)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}
