package incus

// The fake's file endpoints behave like incusd v6.0.4's
// /1.0/instances/{name}/files on an in-memory filesystem: GET gives a file's
// content with X-Incus-uid/gid/mode/type headers, or a directory's names as
// a sync envelope with X-Incus-type: directory; POST writes a file or makes a
// directory, answering 404 when the path or its parent is missing; mode and
// owner are applied only when the POST creates the file or directory, and an
// existing directory is not an error.

import (
	"fmt"
	"io"
	"net/http"
	pathpkg "path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fakeNode is a file or directory in an instance.
type fakeNode struct {
	Dir      bool
	Mode     int
	UID, GID int
	Data     []byte
}

// fakeFilePost is a file POST as the fake handled it.
type fakeFilePost struct {
	Path, Type, Mode string
	// Read is how many bytes of the body the fake read.
	Read   int
	Status int
}

// filePath is the request's ?path=, made absolute and clean.
func filePath(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		writeErrorJSON(w, http.StatusBadRequest, "Missing path argument")
		return "", false
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return pathpkg.Clean(p), true
}

func (f *fakeIncus) fileGet(w http.ResponseWriter, r *http.Request) {
	p, ok := filePath(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	fsys := f.fs[r.PathValue("name")]
	var n *fakeNode
	var entries []string
	if fsys != nil {
		n = fsys[p]
		for k := range fsys {
			if k != "/" && pathpkg.Dir(k) == p {
				entries = append(entries, pathpkg.Base(k))
			}
		}
	}
	var node fakeNode
	if n != nil {
		node = *n
	}
	f.mu.Unlock()
	switch {
	case fsys == nil:
		writeErrorJSON(w, http.StatusNotFound, "Instance not found")
		return
	case n == nil:
		writeErrorJSON(w, http.StatusNotFound, "Not Found")
		return
	}
	typ := "file"
	if node.Dir {
		typ = "directory"
	}
	h := w.Header()
	h.Set("X-Incus-uid", strconv.Itoa(node.UID))
	h.Set("X-Incus-gid", strconv.Itoa(node.GID))
	h.Set("X-Incus-mode", fmt.Sprintf("%04o", node.Mode))
	h.Set("X-Incus-modified", time.Now().UTC().String())
	h.Set("X-Incus-type", typ)
	if node.Dir {
		sort.Strings(entries)
		if entries == nil {
			entries = []string{}
		}
		writeSyncJSON(w, entries)
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(node.Data)))
	h.Set("Content-Disposition", "inline;filename="+pathpkg.Base(p))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(node.Data)
}

// fileHeaders reads the X-Incus-* headers as incusd's api.ParseFileHeaders
// does: uid, gid and mode are -1 when absent or unparsable, the mode is
// parsed with its base prefix ("0755" is octal), the type defaults to file
// and the write mode to overwrite.
func fileHeaders(h http.Header) (uid, gid, mode int, typ, write string) {
	num := func(k string) int {
		n, err := strconv.ParseInt(h.Get(k), 10, 64)
		if err != nil {
			return -1
		}
		return int(n)
	}
	uid, gid = num("X-Incus-uid"), num("X-Incus-gid")
	mode = -1
	if _, err := strconv.Atoi(h.Get("X-Incus-mode")); err == nil {
		if m, err := strconv.ParseInt(h.Get("X-Incus-mode"), 0, 0); err == nil {
			mode = int(m) & 0o777
		}
	}
	typ, write = h.Get("X-Incus-type"), h.Get("X-Incus-write")
	if typ == "" {
		typ = "file"
	}
	if write == "" {
		write = "overwrite"
	}
	return uid, gid, mode, typ, write
}

func (f *fakeIncus) filePost(w http.ResponseWriter, r *http.Request) {
	p, ok := filePath(w, r)
	if !ok {
		return
	}
	uid, gid, mode, typ, write := fileHeaders(r.Header)
	rec := fakeFilePost{Path: p, Type: typ, Mode: r.Header.Get("X-Incus-mode")}
	status, msg := f.writeNode(r, p, uid, gid, mode, typ, write, &rec)
	rec.Status = status
	f.mu.Lock()
	f.filePosts = append(f.filePosts, rec)
	f.mu.Unlock()
	if status != http.StatusOK {
		writeErrorJSON(w, status, msg)
		return
	}
	writeSyncJSON(w, map[string]any{})
}

// writeNode carries out a file POST and returns its status and error text.
func (f *fakeIncus) writeNode(r *http.Request, p string, uid, gid, mode int, typ, write string, rec *fakeFilePost) (int, string) {
	inst := r.PathValue("name")
	if write != "overwrite" && write != "append" {
		return http.StatusBadRequest, "Bad file write mode: " + write
	}
	if typ != "file" && typ != "directory" {
		return http.StatusBadRequest, "Bad file type: " + typ
	}
	f.mu.Lock()
	fsys := f.fs[inst]
	fail := 0
	if typ == "file" {
		fail, f.failFilePost = f.failFilePost, 0
	}
	var exists, parentOK bool
	if fsys != nil {
		parent := fsys[pathpkg.Dir(p)]
		exists, parentOK = fsys[p] != nil, parent != nil && parent.Dir
	}
	f.mu.Unlock()
	switch {
	case fsys == nil:
		return http.StatusNotFound, "Instance not found"
	case typ == "directory" && exists:
		return http.StatusOK, ""
	case !exists && !parentOK:
		return http.StatusNotFound, "Not Found"
	}

	var data []byte
	if typ == "file" {
		if fail > 0 {
			n, _ := io.CopyN(io.Discard, r.Body, int64(fail))
			rec.Read = int(n)
			return http.StatusInternalServerError, "Failed to write file: forkfile: connection reset by peer"
		}
		var err error
		if data, err = io.ReadAll(r.Body); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
		rec.Read = len(data)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	n := fsys[p]
	if n == nil {
		n = &fakeNode{Dir: typ == "directory", Mode: 0o644}
		if n.Dir {
			n.Mode = 0o755
		}
		if mode >= 0 {
			n.Mode = mode
		}
		if uid >= 0 {
			n.UID = uid
		}
		if gid >= 0 {
			n.GID = gid
		}
		fsys[p] = n
	}
	switch {
	case typ == "directory":
	case n.Dir:
		return http.StatusInternalServerError, "Failed to open " + p + ": is a directory"
	case write == "append":
		n.Data = append(n.Data, data...)
	default:
		n.Data = data
	}
	return http.StatusOK, ""
}

// posts returns the file POSTs the fake handled.
func (f *fakeIncus) posts() []fakeFilePost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeFilePost(nil), f.filePosts...)
}

// file returns a copy of a node in instance c1, or nil.
func (f *fakeIncus) file(p string) *fakeNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.fs["c1"][p]
	if n == nil {
		return nil
	}
	c := *n
	c.Data = append([]byte(nil), n.Data...)
	return &c
}

// mkdir makes a directory in instance c1, as the image would have it.
func (f *fakeIncus) mkdir(p string, mode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fs["c1"][p] = &fakeNode{Dir: true, Mode: mode}
}
