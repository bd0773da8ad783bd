package status

import (
	"bytes"
	"sync"
)

// Lines is a writer that shows what is written to it on the Logger, one
// Debugf line per line of output, as the output comes. It also keeps
// everything written, for the caller's errors. Lines that only a verbose
// Logger prints are not split at all on a quiet one.
//
// Filter, when set, rewrites each line before it is shown (not what is kept):
// the place to hide secrets.
type Lines struct {
	Log    *Logger
	Prefix string
	Filter func(string) string

	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
}

func (w *Lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.Log == nil || !w.Log.Verbose {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.show(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// Flush shows a last line that had no newline.
func (w *Lines) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.show(string(w.partial))
		w.partial = nil
	}
}

func (w *Lines) show(line string) {
	if w.Filter != nil {
		line = w.Filter(line)
	}
	w.Log.Debugf("%s%s", w.Prefix, line)
}

// String is everything written so far.
func (w *Lines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
