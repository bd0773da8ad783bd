package rest

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error answer from Incus, or a failed operation. Status is the
// HTTP status the server gave (for an operation that failed, the status its
// error maps to, usually 500).
type Error struct {
	// Status is the HTTP status code: 404 not found, 403 forbidden, 412 an
	// ETag that no longer matches, …
	Status int
	// Method and Path say which call failed ("GET /1.0/instances/n1").
	Method, Path string
	// Message is the server's own text.
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// StatusOf returns the HTTP status carried by err, or 0 when err is not an
// Incus answer.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether Incus answered 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsPreconditionFailed reports whether a write lost an ETag race (412): the
// object changed between reading it and writing it back.
func IsPreconditionFailed(err error) bool { return StatusOf(err) == http.StatusPreconditionFailed }

// IsForbidden reports whether Incus refused the call (403): the client is
// not trusted, or not allowed in that project.
func IsForbidden(err error) bool { return StatusOf(err) == http.StatusForbidden }
