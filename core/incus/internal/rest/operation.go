package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Operation is a background task on the server, as /1.0/operations/{id}
// describes it.
type Operation struct {
	ID          string              `json:"id"`
	Class       string              `json:"class"` // task, websocket, token
	Description string              `json:"description"`
	Status      string              `json:"status"`
	StatusCode  int                 `json:"status_code"`
	Resources   map[string][]string `json:"resources"`
	Metadata    map[string]any      `json:"metadata"`
	MayCancel   bool                `json:"may_cancel"`
	Err         string              `json:"err"`
	Location    string              `json:"location"`
	// call is the request that started it, for error messages.
	call string
}

// Incus's operation status codes that end an operation.
const (
	opSuccess   = 200
	opFailure   = 400
	opCancelled = 401
)

// final reports whether the operation has ended.
func (o *Operation) final() bool { return o.StatusCode >= opSuccess }

// result turns an ended operation into nil or its error.
func (o *Operation) result() error {
	switch o.StatusCode {
	case opSuccess:
		return nil
	case opCancelled:
		return &Error{Status: http.StatusInternalServerError, Method: "operation", Path: o.ID, Message: "the operation was cancelled: " + o.describe()}
	default:
		msg := o.Err
		if msg == "" {
			msg = fmt.Sprintf("the operation ended with status %q", o.Status)
		}
		return &Error{Status: http.StatusInternalServerError, Method: "operation", Path: o.ID, Message: msg}
	}
}

func (o *Operation) describe() string {
	if o.Description != "" {
		return o.Description
	}
	return o.call
}

// Async starts a call that Incus runs in the background and returns its
// operation without waiting.
func (c *Client) Async(ctx context.Context, r Request) (*Operation, error) {
	env, _, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	if env.Type != "async" {
		return nil, fmt.Errorf("%s %s: expected a background operation, the server answered %q", r.Method, r.Path, env.Type)
	}
	return c.opFrom(env, r)
}

func (c *Client) opFrom(env *envelope, r Request) (*Operation, error) {
	var op Operation
	if err := env.into(&op, r.Method, r.Path); err != nil {
		return nil, err
	}
	if op.ID == "" && env.Operation != "" {
		op.ID = env.Operation[strings.LastIndex(env.Operation, "/")+1:]
	}
	if op.ID == "" {
		return nil, fmt.Errorf("%s %s: the server started an operation without an id", r.Method, r.Path)
	}
	op.call = r.Method + " " + r.Path
	return &op, nil
}

// Do starts a background call and waits for it to end. When ctx ends first,
// the operation is cancelled on the server where it can be.
func (c *Client) Do(ctx context.Context, r Request) (*Operation, error) {
	op, err := c.Async(ctx, r)
	if err != nil {
		return nil, err
	}
	done, err := c.Wait(ctx, op)
	if err != nil && ctx.Err() != nil {
		c.Cancel(op)
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, ctx.Err())
	}
	return done, err
}

// Wait waits for an operation to end and returns its last state; a failed
// or cancelled operation is an *Error with the server's text. Each wait asks
// the server to hold the request up to waitTimeout; when it comes back
// without a final state (it timed out, or the connection dropped), the
// operation is read again and waited once more. An operation the server no
// longer knows is an error that says so.
func (c *Client) Wait(ctx context.Context, op *Operation) (*Operation, error) {
	secs := max(int(c.waitTimeout/time.Second), 1)
	drops := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var cur Operation
		began := time.Now()
		_, err := c.Sync(ctx, Request{
			Method: http.MethodGet,
			Path:   Path("operations", op.ID, "wait"),
			Query:  url.Values{"timeout": {strconv.Itoa(secs)}},
		}, &cur)
		if err == nil && cur.final() {
			cur.call = op.call
			return &cur, cur.result()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Not ended yet, or the wait came back broken: look at it directly.
		// A 404 from the wait is no proof that the operation is gone:
		// incusd renders a failed operation's own error in the wait's body
		// with that error's code (404 when the operation failed on something
		// not found), so only the GET below tells a vanished operation from
		// a failed one.
		st, gerr := c.get(ctx, op.ID)
		switch {
		case gerr == nil && st.final():
			st.call = op.call
			return st, st.result()
		case gerr == nil:
			drops = 0
			// incusd holds a wait until the operation ends or the timeout;
			// one that came back at once must not turn this into a busy loop.
			if time.Since(began) < time.Second {
				if werr := Sleep(ctx, c.backoff); werr != nil {
					return nil, werr
				}
			}
		case IsNotFound(gerr):
			return nil, c.vanished(op)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case StatusOf(gerr) != 0:
			// An answer, not a dropped connection (403, 500): asking again
			// would get the same one.
			return nil, fmt.Errorf("waiting for operation %s (%s): %w", op.ID, op.describe(), gerr)
		default:
			drops++
			if drops >= 5 {
				return nil, fmt.Errorf("waiting for operation %s (%s): %w", op.ID, op.describe(), gerr)
			}
			if werr := Sleep(ctx, time.Duration(drops)*c.backoff); werr != nil {
				return nil, werr
			}
		}
	}
}

func (c *Client) get(ctx context.Context, id string) (*Operation, error) {
	var op Operation
	if _, err := c.Sync(ctx, Request{Method: http.MethodGet, Path: Path("operations", id)}, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// ErrVanished is wrapped by the error of an operation the server no longer
// knows (incusd restarted, or the operation was already reaped).
var ErrVanished = errors.New("the operation vanished from the server")

func (c *Client) vanished(op *Operation) error {
	return fmt.Errorf("waiting for operation %s (%s): %w before it ended; incusd may have restarted, check the object's state and run the command again", op.ID, op.describe(), ErrVanished)
}

// Cancel asks the server to cancel an operation, with a fresh short
// context: it runs after the caller's context has ended.
func (c *Client) Cancel(op *Operation) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, _ = c.call(ctx, Request{Method: http.MethodDelete, Path: Path("operations", op.ID)})
}

// Decode copies an operation's metadata into out (a struct with json tags).
func (o *Operation) Decode(out any) error {
	b, err := json.Marshal(o.Metadata)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
