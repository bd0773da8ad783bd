package warm

import (
	"fmt"
	"sync"
	"time"
)

// showProgress prints progress until the returned func is called.
func (w *warmer) showProgress(images int) func() {
	if w.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	line := func() string {
		el := time.Since(start).Seconds()
		rate := 0.0
		if el > 0 {
			rate = float64(w.bytesDone.Load()) / el
		}
		return fmt.Sprintf("warming: %d/%d images resolved, %d/%d blobs, %s/%s, %s/s",
			w.imagesDone.Load(), images, w.blobsDone.Load(), w.blobsTotal.Load(),
			HumanBytes(w.bytesDone.Load()), HumanBytes(w.bytesTotal.Load()), HumanBytes(int64(rate)))
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				if w.o.Interactive {
					fmt.Fprintf(w.o.Progress, "\r\033[K")
				}
				return
			case <-t.C:
				if w.o.Interactive {
					fmt.Fprintf(w.o.Progress, "\r\033[K%s", line())
				} else {
					fmt.Fprintln(w.o.Progress, " • "+line())
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// HumanBytes prints a byte count in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
