package warm

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
)

// blobJob is one distinct blob to fetch.
type blobJob struct {
	upstream, repo string
	ref            name.Digest
	size           int64
	images         []int
	done           bool
	err            error
	attempts       int
}

// plan turns the images' blobs into distinct jobs, skipping what the cache
// holds, and fills in the counts the plan decides.
func (w *warmer) plan(items []*warmItem, rep *Report) []*blobJob {
	byKey := map[string]*blobJob{}
	var jobs []*blobJob
	for i, it := range items {
		if it.res.Error != "" {
			continue
		}
		mine := map[string]bool{}
		for _, b := range it.blobs {
			key := it.upstream + "/" + it.repo + "@" + b.digest.String()
			if mine[key] {
				continue
			}
			mine[key] = true
			it.res.Blobs++
			it.res.Size += b.size
			if j, ok := byKey[key]; ok {
				j.images = append(j.images, i)
				rep.Shared++
				continue
			}
			j := &blobJob{upstream: it.upstream, repo: it.repo, ref: it.ref.Context().Digest(b.digest.String()), size: b.size, images: []int{i}}
			byKey[key] = j
			jobs = append(jobs, j)
			rep.Blobs++
			if !w.o.Force && w.o.Have.Has(it.upstream, it.repo, b.digest.String()) {
				j.done = true
				rep.Skipped++
				rep.SkippedBytes += b.size
				continue
			}
			w.blobsTotal.Add(1)
			w.bytesTotal.Add(b.size)
		}
	}
	// Big blobs first: the longest downloads start early and the tail is
	// short.
	slices.SortStableFunc(jobs, func(a, b *blobJob) int { return cmp.Compare(b.size, a.size) })
	return jobs
}

// fetchAll downloads the pending jobs, Jobs at a time.
func (w *warmer) fetchAll(ctx context.Context, jobs []*blobJob) {
	queue := make(chan *blobJob)
	var wg sync.WaitGroup
	for range w.o.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				attempts, err := w.retry(ctx, func() error { return w.fetch(ctx, j) })
				j.attempts, j.err, j.done = attempts, err, err == nil
				w.blobsDone.Add(1)
			}
		}()
	}
	for _, j := range jobs {
		if j.done {
			continue
		}
		select {
		case queue <- j:
		case <-ctx.Done():
			j.err = ctx.Err()
		}
	}
	close(queue)
	wg.Wait()
}

// fetch reads one blob through the cache, which stores it on the way.
func (w *warmer) fetch(ctx context.Context, j *blobJob) error {
	l, err := w.puller.Layer(ctx, j.ref)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	cw := &countWriter{n: &w.bytesDone}
	_, err = io.Copy(cw, rc)
	if err != nil {
		// The bytes of a failed attempt are read again on the next.
		w.bytesDone.Add(-cw.total)
	}
	return err
}

type countWriter struct {
	n     *atomic.Int64
	total int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	c.total += int64(len(p))
	return len(p), nil
}
