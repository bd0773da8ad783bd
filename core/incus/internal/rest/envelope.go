package rest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// envelope is the JSON every /1.0 answer is wrapped in.
type envelope struct {
	Type       string          `json:"type"` // sync, async, error
	Status     string          `json:"status"`
	StatusCode int             `json:"status_code"`
	Operation  string          `json:"operation"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

// maxEnvelope bounds what plex reads of one answer; plex's largest (a
// project's instance list) is far below it.
const maxEnvelope = 64 << 20

// decodeEnvelope reads an answer and turns an error answer, or an HTTP
// error status without one, into an *Error.
func decodeEnvelope(resp *http.Response, method, path string) (*envelope, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEnvelope))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		if resp.StatusCode >= 400 {
			return nil, &Error{Status: resp.StatusCode, Method: method, Path: path, Message: strings.TrimSpace(string(body))}
		}
		return nil, fmt.Errorf("%s %s: the answer is not Incus JSON (HTTP %d): %w", method, path, resp.StatusCode, err)
	}
	if env.Type == "error" || resp.StatusCode >= 400 {
		code := env.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, &Error{Status: code, Method: method, Path: path, Message: env.Error}
	}
	return &env, nil
}

// into decodes the envelope's metadata into out (nil skips it).
func (e *envelope) into(out any, method, path string) error {
	if out == nil || len(e.Metadata) == 0 || string(e.Metadata) == "null" {
		return nil
	}
	if err := json.Unmarshal(e.Metadata, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
