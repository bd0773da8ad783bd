package incus

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// isolate keeps a test away from the machine's incus configuration, sockets
// and environment, and returns a scratch directory.
func isolate(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	for _, v := range []string{"INCUS_CONF", "HOME", "INCUS_REMOTE", "INCUS_SOCKET", "INCUS_DIR", "INCUS_GLOBAL_CONF"} {
		t.Setenv(v, "")
	}
	oldGlobal, oldSockets, oldHome := globalConfigDir, systemSockets, userHomeDir
	globalConfigDir = filepath.Join(tmp, "etc", "incus")
	systemSockets = []string{filepath.Join(tmp, "run", "incus", "unix.socket"), filepath.Join(tmp, "var", "lib", "incus", "unix.socket")}
	userHomeDir = func() (string, error) { return "", nil }
	t.Cleanup(func() { globalConfigDir, systemSockets, userHomeDir = oldGlobal, oldSockets, oldHome })
	return tmp
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testCert is a self-signed certificate, as incus generates for clients and
// servers.
type testCert struct {
	certPEM, keyPEM, der []byte
	pair                 tls.Certificate
}

func newTestCert(t *testing.T, cn string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{cn},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		der:     der,
	}
	if c.pair, err = tls.X509KeyPair(c.certPEM, c.keyPEM); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadClientConfig(t *testing.T) {
	local := Remote{Name: "local", Addr: "unix://", Protocol: "incus"}
	images := Remote{Name: "images", Addr: "https://images.linuxcontainers.org", Protocol: "simplestreams", Public: true}
	tests := []struct {
		name    string
		setup   func(t *testing.T, tmp string) (path string)
		wantDir func(tmp string) string
		check   func(t *testing.T, c *ClientConfig)
		wantErr string
	}{{
		name: "missing file gives the CLI defaults",
		setup: func(t *testing.T, tmp string) string {
			t.Setenv("INCUS_CONF", filepath.Join(tmp, "conf"))
			return ""
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "conf") },
		check: func(t *testing.T, c *ClientConfig) {
			want := map[string]Remote{"local": local, "images": images}
			if c.DefaultRemote != "local" || !reflect.DeepEqual(c.Remotes, want) || len(c.Aliases) != 0 {
				t.Errorf("got %+v", c)
			}
		},
	}, {
		name: "INCUS_CONF",
		setup: func(t *testing.T, tmp string) string {
			dir := filepath.Join(tmp, "conf")
			t.Setenv("INCUS_CONF", dir)
			writeFile(t, filepath.Join(dir, "config.yml"), []byte(`default-remote: srv
remotes:
  srv:
    addr: https://10.0.0.1:8443
    project: web
    public: false
  mirror:
    addr: https://mirror.example
    protocol: simplestreams
    public: true
aliases:
  ll: list -c ns
`))
			return ""
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "conf") },
		check: func(t *testing.T, c *ClientConfig) {
			want := map[string]Remote{
				"local":  local,
				"srv":    {Name: "srv", Addr: "https://10.0.0.1:8443", Protocol: "incus", AuthType: "tls", Project: "web"},
				"mirror": {Name: "mirror", Addr: "https://mirror.example", Protocol: "simplestreams", Public: true},
			}
			if !reflect.DeepEqual(c.Remotes, want) {
				t.Errorf("remotes %+v, want %+v (no images: the file does not list it)", c.Remotes, want)
			}
			if c.DefaultRemote != "srv" || c.Aliases["ll"] != "list -c ns" {
				t.Errorf("got %+v", c)
			}
		},
	}, {
		name: "HOME fallback",
		setup: func(t *testing.T, tmp string) string {
			home := filepath.Join(tmp, "home")
			t.Setenv("HOME", home)
			writeFile(t, filepath.Join(home, ".config", "incus", "config.yml"), []byte("default-remote: srv\nremotes:\n  srv:\n    addr: https://srv:8443\n"))
			return ""
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "home", ".config", "incus") },
		check: func(t *testing.T, c *ClientConfig) {
			if c.DefaultRemote != "srv" || c.Remotes["srv"].Addr != "https://srv:8443" {
				t.Errorf("got %+v", c)
			}
		},
	}, {
		name: "user lookup when HOME is unset",
		setup: func(t *testing.T, tmp string) string {
			home := filepath.Join(tmp, "pwhome")
			if err := os.MkdirAll(home, 0o755); err != nil {
				t.Fatal(err)
			}
			userHomeDir = func() (string, error) { return home, nil }
			return ""
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "pwhome", ".config", "incus") },
	}, {
		name:    "no HOME and no INCUS_CONF",
		setup:   func(t *testing.T, tmp string) string { return "" },
		wantDir: func(string) string { return "" },
		check: func(t *testing.T, c *ClientConfig) {
			if c.Path != "" || c.Remotes["local"] != local || c.Remotes["images"] != images {
				t.Errorf("got %+v", c)
			}
		},
	}, {
		name: "explicit path",
		setup: func(t *testing.T, tmp string) string {
			t.Setenv("INCUS_CONF", filepath.Join(tmp, "ignored"))
			p := filepath.Join(tmp, "elsewhere", "config.yml")
			writeFile(t, p, []byte("remotes:\n  srv:\n    addr: https://srv:8443\n"))
			return p
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "elsewhere") },
		check: func(t *testing.T, c *ClientConfig) {
			if c.DefaultRemote != "local" || c.Remotes["srv"].Addr != "https://srv:8443" {
				t.Errorf("got %+v", c)
			}
		},
	}, {
		name: "global remotes merge in and the user's win",
		setup: func(t *testing.T, tmp string) string {
			writeFile(t, filepath.Join(globalConfigDir, "config.yml"), []byte(`default-remote: corp
remotes:
  corp:
    addr: https://corp:8443
    project: shared
  srv:
    addr: https://global-srv:8443
`))
			p := filepath.Join(tmp, "conf", "config.yml")
			writeFile(t, p, []byte("remotes:\n  srv:\n    addr: https://mine:8443\n"))
			return p
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "conf") },
		check: func(t *testing.T, c *ClientConfig) {
			if r := c.Remotes["corp"]; !r.Global || r.Addr != "https://corp:8443" || r.Project != "shared" || r.Protocol != "incus" {
				t.Errorf("corp = %+v", r)
			}
			if r := c.Remotes["srv"]; r.Global || r.Addr != "https://mine:8443" {
				t.Errorf("srv = %+v, want the user's", r)
			}
			if c.DefaultRemote != "local" {
				t.Errorf("default remote %q: the global file's must not count", c.DefaultRemote)
			}
		},
	}, {
		name: "global remotes without a user file",
		setup: func(t *testing.T, tmp string) string {
			writeFile(t, filepath.Join(globalConfigDir, "config.yml"), []byte("remotes:\n  corp:\n    addr: https://corp:8443\n"))
			return filepath.Join(tmp, "conf", "config.yml")
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "conf") },
		check: func(t *testing.T, c *ClientConfig) {
			if !c.Remotes["corp"].Global || c.Remotes["images"] != images {
				t.Errorf("got %+v", c.Remotes)
			}
		},
	}, {
		name: "INCUS_GLOBAL_CONF",
		setup: func(t *testing.T, tmp string) string {
			g := filepath.Join(tmp, "other-etc")
			t.Setenv("INCUS_GLOBAL_CONF", g)
			writeFile(t, filepath.Join(g, "config.yml"), []byte("remotes:\n  corp:\n    addr: https://corp:8443\n"))
			return filepath.Join(tmp, "conf", "config.yml")
		},
		wantDir: func(tmp string) string { return filepath.Join(tmp, "conf") },
		check: func(t *testing.T, c *ClientConfig) {
			if !c.Remotes["corp"].Global {
				t.Errorf("got %+v", c.Remotes)
			}
		},
	}, {
		name: "local keeps only its project",
		setup: func(t *testing.T, tmp string) string {
			p := filepath.Join(tmp, "config.yml")
			writeFile(t, p, []byte("remotes:\n  local:\n    addr: https://not-local:8443\n    project: dev\n"))
			return p
		},
		wantDir: func(tmp string) string { return tmp },
		check: func(t *testing.T, c *ClientConfig) {
			want := local
			want.Project = "dev"
			if c.Remotes["local"] != want {
				t.Errorf("local = %+v, want %+v", c.Remotes["local"], want)
			}
		},
	}, {
		name: "bad YAML names the file",
		setup: func(t *testing.T, tmp string) string {
			p := filepath.Join(tmp, "config.yml")
			writeFile(t, p, []byte("remotes: [\n"))
			return p
		},
		wantErr: "config.yml",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := isolate(t)
			path := tt.setup(t, tmp)
			c, err := LoadClientConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "fix the YAML") {
					t.Fatalf("err = %v, want one naming %q and the fix", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.wantDir(tmp); c.Dir != want {
				t.Errorf("Dir = %q, want %q", c.Dir, want)
			} else if want != "" && c.Path != filepath.Join(want, "config.yml") {
				t.Errorf("Path = %q", c.Path)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestRemoteName(t *testing.T) {
	tests := []struct {
		name, arg, env, def, want string
	}{
		{name: "named", arg: "srv", env: "envsrv", def: "defsrv", want: "srv"},
		{name: "INCUS_REMOTE", env: "envsrv", def: "defsrv", want: "envsrv"},
		{name: "default remote", def: "defsrv", want: "defsrv"},
		{name: "local", want: "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			t.Setenv("INCUS_REMOTE", tt.env)
			c := &ClientConfig{DefaultRemote: tt.def}
			if got := c.RemoteName(tt.arg); got != tt.want {
				t.Errorf("RemoteName(%q) = %q, want %q", tt.arg, got, tt.want)
			}
		})
	}
}

func TestEndpointSocket(t *testing.T) {
	tests := []struct {
		name string
		// setup creates sockets and sets variables; it returns the remote's
		// address and the socket wanted ("" for an error).
		setup   func(t *testing.T, tmp string) (addr, want string)
		wantErr []string
	}{{
		name: "INCUS_SOCKET",
		setup: func(t *testing.T, tmp string) (string, string) {
			s := filepath.Join(tmp, "custom.socket")
			writeFile(t, s, nil)
			writeFile(t, systemSockets[0], nil)
			t.Setenv("INCUS_SOCKET", s)
			t.Setenv("INCUS_DIR", filepath.Join(tmp, "dir"))
			return "unix://", s
		},
	}, {
		name: "INCUS_SOCKET missing is not skipped for the system socket",
		setup: func(t *testing.T, tmp string) (string, string) {
			writeFile(t, systemSockets[0], nil)
			t.Setenv("INCUS_SOCKET", filepath.Join(tmp, "gone.socket"))
			return "unix://", ""
		},
		wantErr: []string{"gone.socket (from $INCUS_SOCKET)", "incusd may not be running"},
	}, {
		name: "INCUS_DIR",
		setup: func(t *testing.T, tmp string) (string, string) {
			s := filepath.Join(tmp, "dir", "unix.socket")
			writeFile(t, s, nil)
			writeFile(t, systemSockets[0], nil)
			t.Setenv("INCUS_DIR", filepath.Join(tmp, "dir"))
			return "unix://", s
		},
	}, {
		name: "run before var/lib",
		setup: func(t *testing.T, tmp string) (string, string) {
			writeFile(t, systemSockets[0], nil)
			writeFile(t, systemSockets[1], nil)
			return "unix://", systemSockets[0]
		},
	}, {
		name: "var/lib",
		setup: func(t *testing.T, tmp string) (string, string) {
			writeFile(t, systemSockets[1], nil)
			return "unix://", systemSockets[1]
		},
	}, {
		name:    "none",
		setup:   func(t *testing.T, tmp string) (string, string) { return "unix://", "" },
		wantErr: []string{"run/incus/unix.socket", "var/lib/incus/unix.socket", "incusd may not be running", "INCUS_SOCKET"},
	}, {
		name: "explicit path",
		setup: func(t *testing.T, tmp string) (string, string) {
			s := filepath.Join(tmp, "elsewhere.socket")
			writeFile(t, s, nil)
			writeFile(t, systemSockets[0], nil)
			return "unix://" + s, s
		},
	}, {
		name: "explicit path missing",
		setup: func(t *testing.T, tmp string) (string, string) {
			writeFile(t, systemSockets[0], nil)
			return "unix://" + filepath.Join(tmp, "gone.socket"), ""
		},
		wantErr: []string{"gone.socket", "incusd may not be running"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := isolate(t)
			addr, want := tt.setup(t, tmp)
			p := filepath.Join(tmp, "conf", "config.yml")
			writeFile(t, p, []byte("default-remote: sock\nremotes:\n  sock:\n    addr: "+addr+"\n"))
			c, err := LoadClientConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			remotes := []string{"sock"}
			if addr == "unix://" {
				remotes = append(remotes, "local") // the static remote finds the same socket
			}
			for _, remote := range remotes {
				ep, err := c.Endpoint(remote)
				if len(tt.wantErr) > 0 {
					if err == nil {
						t.Fatalf("%s: got %+v, want an error", remote, ep)
					}
					for _, w := range tt.wantErr {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("%s: error %q does not mention %q", remote, err, w)
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", remote, err)
				}
				if ep.SocketPath != want || ep.URL != "" || ep.TLS != nil {
					t.Errorf("%s: endpoint %+v, want socket %s", remote, ep, want)
				}
			}
		})
	}
}

// httpsFixture is a configuration directory with one HTTPS remote "srv".
type httpsFixture struct {
	tmp, dir, path string
	client         testCert
}

func newHTTPSFixture(t *testing.T, addr string) httpsFixture {
	t.Helper()
	tmp := isolate(t)
	f := httpsFixture{tmp: tmp, dir: filepath.Join(tmp, "conf"), client: newTestCert(t, "plex-client")}
	f.path = filepath.Join(f.dir, "config.yml")
	writeFile(t, f.path, []byte(`default-remote: srv
remotes:
  srv:
    addr: `+addr+`
    auth_type: tls
    project: web
    protocol: incus
    public: false
  idp:
    addr: https://idp:8443
    auth_type: oidc
  images:
    addr: https://images.linuxcontainers.org
    protocol: simplestreams
    public: true
`))
	writeFile(t, filepath.Join(f.dir, "client.crt"), f.client.certPEM)
	writeFile(t, filepath.Join(f.dir, "client.key"), f.client.keyPEM)
	return f
}

func (f httpsFixture) load(t *testing.T) *ClientConfig {
	t.Helper()
	c, err := LoadClientConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEndpointHTTPS(t *testing.T) {
	const addr = "https://10.0.0.1:8443"
	server := newTestCert(t, "srv")
	tests := []struct {
		name   string
		remote string
		// setup may return the client certificate expected instead of
		// client.crt.
		setup   func(t *testing.T, f httpsFixture) []byte
		check   func(t *testing.T, f httpsFixture, tc *tls.Config)
		wantErr []string
	}{{
		name:   "client certificate and pinned server certificate",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "servercerts", "srv.crt"), server.certPEM)
			return nil
		},
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if len(tc.Certificates) != 1 || !bytes.Equal(tc.Certificates[0].Certificate[0], f.client.der) {
				t.Errorf("client certificate not client.crt")
			}
			if !tc.InsecureSkipVerify || tc.VerifyConnection == nil {
				t.Errorf("a pinned certificate must replace chain verification")
			}
			if err := tc.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: server.der}}}); err != nil {
				t.Errorf("pinned certificate refused: %v", err)
			}
		},
	}, {
		name:   "default remote",
		remote: "",
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if len(tc.Certificates) != 1 || tc.InsecureSkipVerify {
				t.Errorf("got %+v", tc)
			}
		},
	}, {
		name:   "clientcerts override",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			own := newTestCert(t, "srv-only")
			writeFile(t, filepath.Join(f.dir, "clientcerts", "srv.crt"), own.certPEM)
			writeFile(t, filepath.Join(f.dir, "clientcerts", "srv.key"), own.keyPEM)
			writeFile(t, filepath.Join(f.dir, "clientcerts", "other.crt"), f.client.certPEM)
			return own.der
		},
	}, {
		name:   "clientcerts without its key falls back to client.crt",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "clientcerts", "srv.crt"), newTestCert(t, "half").certPEM)
			return nil
		},
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if len(tc.Certificates) != 1 || !bytes.Equal(tc.Certificates[0].Certificate[0], f.client.der) {
				t.Errorf("client certificate not client.crt")
			}
		},
	}, {
		name:   "client CA replaces the system roots",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "client.ca"), server.certPEM)
			return nil
		},
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if tc.RootCAs == nil || tc.InsecureSkipVerify {
				t.Errorf("got %+v", tc)
			}
		},
	}, {
		name:   "missing client certificate",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			if err := os.Remove(filepath.Join(f.dir, "client.crt")); err != nil {
				t.Fatal(err)
			}
			return nil
		},
		wantErr: []string{"conf/client.crt", "incus remote add srv " + addr, "incus remote generate-certificate"},
	}, {
		name:   "missing client key",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			if err := os.Remove(filepath.Join(f.dir, "client.key")); err != nil {
				t.Fatal(err)
			}
			return nil
		},
		wantErr: []string{"conf/client.key", "incus remote add srv"},
	}, {
		name:   "encrypted PKCS#8 key",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "client.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("sealed")}))
			return nil
		},
		wantErr: []string{"conf/client.key", "passphrase", "cannot prompt", "openssl pkey -in"},
	}, {
		name:   "encrypted legacy PEM key",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "client.key"), pem.EncodeToMemory(&pem.Block{
				Type:    "EC PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00000000000000000000000000000000"},
				Bytes:   []byte("sealed"),
			}))
			return nil
		},
		wantErr: []string{"conf/client.key", "passphrase", "openssl pkey -in"},
	}, {
		name:   "mismatched certificate and key",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "client.key"), newTestCert(t, "other").keyPEM)
			return nil
		},
		wantErr: []string{"conf/client.crt", "conf/client.key", "generate-certificate"},
	}, {
		name:   "unreadable pinned certificate",
		remote: "srv",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(f.dir, "servercerts", "srv.crt"), []byte("not a certificate"))
			return nil
		},
		wantErr: []string{"servercerts/srv.crt", "incus remote remove srv", "incus remote add srv"},
	}, {
		name:   "public remote needs no client certificate",
		remote: "images",
		setup: func(t *testing.T, f httpsFixture) []byte {
			for _, n := range []string{"client.crt", "client.key"} {
				if err := os.Remove(filepath.Join(f.dir, n)); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		},
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if len(tc.Certificates) != 0 || tc.InsecureSkipVerify || tc.VerifyConnection != nil || tc.RootCAs != nil {
				t.Errorf("a public remote without a pin must use the system roots: %+v", tc)
			}
		},
	}, {
		name:    "OIDC remote",
		remote:  "idp",
		wantErr: []string{"oidc", "--auth-type=tls"},
	}, {
		name:    "unknown remote",
		remote:  "nowhere",
		wantErr: []string{`"nowhere"`, "known servers: idp, local, srv)", "incus remote add nowhere"},
	}, {
		name:   "global remote uses the global pinned certificate",
		remote: "corp",
		setup: func(t *testing.T, f httpsFixture) []byte {
			writeFile(t, filepath.Join(globalConfigDir, "config.yml"), []byte("remotes:\n  corp:\n    addr: https://corp:8443\n"))
			writeFile(t, filepath.Join(globalConfigDir, "servercerts", "corp.crt"), server.certPEM)
			return nil
		},
		check: func(t *testing.T, f httpsFixture, tc *tls.Config) {
			if tc.VerifyConnection == nil {
				t.Fatal("the global pinned certificate was not used")
			}
			if err := tc.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: server.der}}}); err != nil {
				t.Error(err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHTTPSFixture(t, addr)
			wantClient := f.client.der
			if tt.setup != nil {
				if der := tt.setup(t, f); der != nil {
					wantClient = der
				}
			}
			ep, err := f.load(t).Endpoint(tt.remote)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got %+v, want an error", ep)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL == "" || ep.SocketPath != "" || ep.TLS == nil || ep.TLS.MinVersion != tls.VersionTLS13 {
				t.Fatalf("endpoint %+v", ep)
			}
			if c := ep.TLS.Certificates; len(c) > 0 && !bytes.Equal(c[0].Certificate[0], wantClient) {
				t.Errorf("presents the wrong client certificate")
			}
			if tt.check != nil {
				tt.check(t, f, ep.TLS)
			}
		})
	}
}

// TestEndpointTLS talks to a real TLS server that, like incusd, presents a
// self-signed certificate and wants a client certificate.
func TestEndpointTLS(t *testing.T) {
	serverCert := newTestCert(t, "incusd")
	var clientDER []byte
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || !bytes.Equal(r.TLS.PeerCertificates[0].Raw, clientDER) {
			http.Error(w, "not our client", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.pair}, ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()

	tests := []struct {
		name    string
		pin     []byte // nil: no pinned certificate
		wantErr []string
	}{
		{name: "right pin", pin: serverCert.certPEM},
		{name: "wrong pin", pin: newTestCert(t, "impostor").certPEM, wantErr: []string{"does not match the pinned", "servercerts/srv.crt", "incus remote remove srv", "incus remote add srv " + srv.URL}},
		{name: "no pin uses the system roots", wantErr: []string{"certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHTTPSFixture(t, srv.URL)
			clientDER = f.client.der
			if tt.pin != nil {
				writeFile(t, filepath.Join(f.dir, "servercerts", "srv.crt"), tt.pin)
			}
			ep, err := f.load(t).Endpoint("srv")
			if err != nil {
				t.Fatal(err)
			}
			tr := &http.Transport{TLSClientConfig: ep.TLS}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(ep.URL + "/1.0")
			if len(tt.wantErr) > 0 {
				if err == nil {
					_ = resp.Body.Close()
					t.Fatalf("connected (%s), want a refusal", resp.Status)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Errorf("server said %s: %s", resp.Status, body)
			}
			if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
				t.Errorf("not TLS 1.3: %+v", resp.TLS)
			}
		})
	}
}
