package warm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// permanentError is a failure retrying cannot mend.
type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

func permanent(err error) error { return permanentError{err} }

// retryable reports whether trying again may help: network trouble, a
// short read, a server error or rate limit; not a missing image, a denial
// or a bad reference.
func retryable(err error) bool {
	if errors.As(err, new(permanentError)) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout
	}
	return true
}

// retry runs f as retryUpTo does with Warm's Attempts and RetryDelay, and
// counts the retries for the report.
func (w *warmer) retry(ctx context.Context, f func() error) (int, error) {
	n, err := retryUpTo(ctx, w.o.Attempts, w.o.RetryDelay, f)
	w.retries.Add(int64(n - 1))
	return n, err
}

// retryUpTo runs f up to attempts times while its error is retryable,
// waiting delay (doubling) between attempts, and returns how many it made.
func retryUpTo(ctx context.Context, attempts int, delay time.Duration, f func() error) (int, error) {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return attempt, nil
		}
		if attempt >= attempts || !retryable(err) || ctx.Err() != nil {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return attempt, err
		}
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}
