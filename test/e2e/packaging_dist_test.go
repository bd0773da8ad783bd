//go:build e2e

package e2e

import (
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// distArchives are the archives `make dist` must produce, and the files each
// one carries. A dist narrowed with DIST_PLATFORMS holds those of its
// platforms (packagingRelease.archives).
var distArchives = map[string][]string{
	"kubectl-plex_linux_amd64":   {"LICENSE", "kubectl-plex", "kubectl_complete-plex"},
	"kubectl-plex_linux_arm64":   {"LICENSE", "kubectl-plex", "kubectl_complete-plex"},
	"kubectl-plex_darwin_amd64":  {"LICENSE", "kubectl-plex", "kubectl_complete-plex"},
	"kubectl-plex_darwin_arm64":  {"LICENSE", "kubectl-plex", "kubectl_complete-plex"},
	"incus-plexbake_linux_amd64": {"LICENSE", "incus-plexbake"},
	"incus-plexbake_linux_arm64": {"LICENSE", "incus-plexbake"},
	"plex-registry_linux_amd64":  {"LICENSE", "plex-registry"},
	"plex-registry_linux_arm64":  {"LICENSE", "plex-registry"},
}

// TestPackagingArchives checks every archive: its entries (sorted, owned by
// 0:0, dated at the commit), its sha256 files, the binary's target platform,
// and, for this machine's platform, that the binary prints the injected
// version and has a completion command.
func TestPackagingArchives(t *testing.T) {
	_, rel := requirePackaging(t)
	epoch, err := strconv.ParseInt(rel.info["source-date-epoch"], 10, 64)
	if err != nil {
		t.Fatalf("build-info.txt: source-date-epoch: %v", err)
	}
	checksums, err := os.ReadFile(filepath.Join(rel.dir, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	archives := rel.archives(t)
	for name, want := range archives {
		t.Run(name, func(t *testing.T) {
			path := rel.archive(name)
			sum := fileSHA256(t, path)
			line := sum + "  " + name + ".tar.gz\n"
			if got, err := os.ReadFile(path + ".sha256"); err != nil || string(got) != line {
				t.Errorf("%s.sha256 = %q (%v), want %q", name, got, err, line)
			}
			if !strings.Contains(string(checksums), line) {
				t.Errorf("checksums.txt lacks %q", line)
			}

			dir, headers := extractArchive(t, path)
			var names []string
			for _, h := range headers {
				names = append(names, h.Name)
				if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 with no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
				}
				if !h.ModTime.Equal(time.Unix(epoch, 0)) {
					t.Errorf("%s: mtime %s, want the commit's time %s", h.Name, h.ModTime.UTC(), time.Unix(epoch, 0).UTC())
				}
				wantMode := int64(0o755)
				if h.Name == "LICENSE" {
					wantMode = 0o644
				}
				if h.Mode != wantMode {
					t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, wantMode)
				}
			}
			if !slices.Equal(names, want) {
				t.Errorf("entries %q, want %q (sorted)", names, want)
			}

			prog, goos, goarch := splitArchiveName(name)
			checkBinaryPlatform(t, filepath.Join(dir, prog), goos, goarch)
			if goos != runtime.GOOS || goarch != runtime.GOARCH {
				return
			}
			out := mustRunTool(t, nil, filepath.Join(dir, prog), "version")
			for _, s := range []string{prog, rel.info["version"], "commit " + rel.info["commit"]} {
				if !strings.Contains(out, s) {
					t.Errorf("%s version = %q, want it to contain %q", prog, out, s)
				}
			}
			// Cobra's completion command, for every program.
			if out := mustRunTool(t, nil, filepath.Join(dir, prog), "completion", "bash"); !strings.Contains(out, "bash completion V2 for "+prog) {
				t.Errorf("%s completion bash: not a bash completion script:\n%.300s", prog, out)
			}
			if out := mustRunTool(t, nil, filepath.Join(dir, prog), "__complete", ""); !strings.Contains(out, "version") {
				t.Errorf("%s __complete '': want the verbs, among them version; got:\n%s", prog, out)
			}
		})
	}
}

// TestPackagingManifest checks dist/plex.yaml against the archives; the real
// Krew validates the rest in TestPackagingKrew.
func TestPackagingManifest(t *testing.T) {
	_, rel := requirePackaging(t)
	archives := rel.archives(t)
	raw, err := os.ReadFile(filepath.Join(rel.dir, "plex.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Caveats          string `json:"caveats"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"` // a string: an unquoted all-digit hash fails here
				Files  []struct {
					From string `json:"from"`
					To   string `json:"to"`
				} `json:"files"`
				Bin string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatalf("dist/plex.yaml: %v", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "plex" {
		t.Errorf("apiVersion/kind/name = %s/%s/%s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != rel.info["krew-version"] || !strings.HasPrefix(m.Spec.Version, "v") {
		t.Errorf("spec.version = %q, want %q", m.Spec.Version, rel.info["krew-version"])
	}
	if lines := strings.Count(strings.TrimSpace(m.Spec.Description), "\n") + 1; lines != 2 {
		t.Errorf("description has %d lines, want 2:\n%s", lines, m.Spec.Description)
	}
	if m.Spec.Homepage == "" || m.Spec.ShortDescription == "" || !strings.Contains(m.Spec.Caveats, "kubectl_complete-plex") {
		t.Errorf("homepage %q, shortDescription %q, caveats %q: want all set, caveats telling how to add kubectl_complete-plex",
			m.Spec.Homepage, m.Spec.ShortDescription, m.Spec.Caveats)
	}
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		name := fmt.Sprintf("kubectl-plex_%s_%s", p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"])
		seen[name] = true
		if _, ok := archives[name]; !ok {
			t.Errorf("platform %v has no archive %s", p.Selector.MatchLabels, name)
			continue
		}
		if want := rel.info["url-base"] + "/" + name + ".tar.gz"; p.URI != want {
			t.Errorf("%s: uri %q, want %q", name, p.URI, want)
		}
		if want := fileSHA256(t, rel.archive(name)); p.Sha256 != want {
			t.Errorf("%s: sha256 %q, want %q", name, p.Sha256, want)
		}
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From)
		}
		if p.Bin != "kubectl-plex" || !slices.Contains(from, "kubectl_complete-plex") || !slices.Contains(from, "LICENSE") {
			t.Errorf("%s: bin %q files %q: want bin kubectl-plex, and the files to copy kubectl_complete-plex and LICENSE too", name, p.Bin, from)
		}
	}
	for name := range archives {
		if strings.HasPrefix(name, "kubectl-plex_") && !seen[name] {
			t.Errorf("no platform for %s", name)
		}
	}
}

// TestPackagingReproducible runs `make dist` a second time, from a copy of the
// source tree in another directory, and compares checksums with the first.
// The copy proves -trimpath: no path of the build leaks into the bytes.
func TestPackagingReproducible(t *testing.T) {
	_, rel := requirePackaging(t)
	root := packagingRepoRoot(t)
	src := filepath.Join(t.TempDir(), "elsewhere", "plex")
	copySourceTree(t, root, src)

	dist := filepath.Join(t.TempDir(), "dist")
	start := time.Now()
	// The same VERSION and COMMIT as the first build: make computes them
	// from git, and the copy is the same tree.
	mustRunTool(t, nil, "make", "-C", src, "dist", "DIST="+dist, "DIST_URL_BASE="+rel.info["url-base"], "DIST_PLATFORMS="+rel.info["platforms"])
	t.Logf("second make dist: %s", time.Since(start).Round(time.Second))

	second, err := readBuildInfo(filepath.Join(dist, "build-info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if second["source-fingerprint"] != rel.info["source-fingerprint"] {
		t.Fatalf("the source changed between the first make dist and this copy (fingerprint %s, then %s): "+
			"someone edited the tree; run make packaging-test again on a quiet tree",
			rel.info["source-fingerprint"], second["source-fingerprint"])
	}
	for _, k := range []string{"version", "commit", "source-date-epoch", "go"} {
		if second[k] != rel.info[k] {
			t.Fatalf("build-info.txt %s: %q, then %q in the copy: make dist must derive it from the commit alone", k, rel.info[k], second[k])
		}
	}
	a, err := os.ReadFile(filepath.Join(rel.dir, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("two make dist runs of the same source differ:\n%s\n--- first (%s)\n%s--- second (%s)\n%s",
			"diff the archives' contents (tar -tvzf; go version -m; cmp) to find what is not reproducible", rel.dir, a, dist, b)
	}
	for _, f := range []string{"plex.yaml"} {
		x, _ := os.ReadFile(filepath.Join(rel.dir, f))
		y, _ := os.ReadFile(filepath.Join(dist, f))
		if string(x) != string(y) {
			t.Errorf("%s differs between the two runs", f)
		}
	}
	t.Logf("identical checksums from %s and %s:\n%s", rel.dir, dist, a)
}

// copySourceTree copies every tracked and untracked, not ignored, file of the
// repository at root, and its .git, to dst.
func copySourceTree(t *testing.T, root, dst string) {
	t.Helper()
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the source files: %v", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	// cp -a keeps modes; --parents recreates the directories.
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
			files = append(files, f)
		}
	}
	files = append(files, ".git")
	cmd := exec.Command("xargs", "-0", "cp", "-a", "--parents", "-t", dst, "--")
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(strings.Join(files, "\x00"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copying the source tree to %s: %v\n%s", dst, err, out)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// splitArchiveName splits "kubectl-plex_linux_amd64" into its parts.
func splitArchiveName(name string) (prog, goos, goarch string) {
	parts := strings.Split(name, "_")
	return parts[0], parts[1], parts[2]
}

// checkBinaryPlatform reads the executable's header.
func checkBinaryPlatform(t *testing.T, path, goos, goarch string) {
	t.Helper()
	switch goos {
	case "linux":
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: not an ELF executable: %v", path, err)
		}
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
		if f.Machine != want {
			t.Errorf("%s: machine %s, want %s", path, f.Machine, want)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked (has an interpreter); want static (CGO_ENABLED=0)", path)
			}
		}
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			t.Fatalf("%s: not a Mach-O executable: %v", path, err)
		}
		defer f.Close()
		want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
		if f.Cpu != want {
			t.Errorf("%s: cpu %s, want %s", path, f.Cpu, want)
		}
	default:
		t.Fatalf("%s: unexpected os %q", path, goos)
	}
}
