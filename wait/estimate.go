package wait

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"aipaint-mcp/client"
)

// Estimator learns how long tasks take, per kind of task, from the most
// recent observations: the hint of a polling Schedule. Its memory is bounded
// and it is safe for concurrent use. A nil *Estimator knows nothing.
type Estimator struct {
	mu     sync.Mutex
	recent map[string]*samples
}

// Bounds of an Estimator: the last estimateKeep durations per key, at most
// estimateKeys keys, and no estimate before estimateMin observations (one
// odd task must not steer the schedule).
const (
	estimateKeep = 32
	estimateKeys = 64
	estimateMin  = 3
)

type samples struct {
	d    [estimateKeep]time.Duration
	n    int // observations so far; the ring holds the last min(n, estimateKeep)
	next int
}

// NewEstimator returns an Estimator that knows nothing yet.
func NewEstimator() *Estimator {
	return &Estimator{recent: map[string]*samples{}}
}

// Key names the kind of a task: its duration depends on the
// resolution and the number of images.
func Key(resolution string, num int) string {
	return resolution + "/" + strconv.Itoa(num)
}

// Observe records that a task of this kind took d, from its creation upstream
// to done. It is also how to seed the Estimator from stored tasks.
// Durations that are not positive (clock skew) are ignored.
func (e *Estimator) Observe(key string, d time.Duration) {
	if e == nil || d <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.recent[key]
	if s == nil {
		if len(e.recent) >= estimateKeys {
			return
		}
		s = &samples{}
		e.recent[key] = s
	}
	s.d[s.next] = d
	s.next = (s.next + 1) % estimateKeep
	s.n++
}

// Expect is the median of the recent durations of this kind of task, once
// there are enough of them.
func (e *Estimator) Expect(key string) (time.Duration, bool) {
	if e == nil {
		return 0, false
	}
	var buf [estimateKeep]time.Duration
	e.mu.Lock()
	s := e.recent[key]
	if s == nil || s.n < estimateMin {
		e.mu.Unlock()
		return 0, false
	}
	ds := buf[:min(s.n, estimateKeep)]
	copy(ds, s.d[:])
	e.mu.Unlock()
	slices.Sort(ds)
	m := len(ds) / 2
	if len(ds)%2 == 0 {
		return (ds[m-1] + ds[m]) / 2, true
	}
	return ds[m], true
}

// FinishWatch sees when a task finishes while it is being polled: between
// the last poll that found it pending and the first that found it done
// (their midpoint). A task found done at the first look finished at some
// unknown earlier time, and teaches nothing. Feed it every Poll.
type FinishWatch struct{ pendingAt time.Time }

// Poll notes one poll; use it as (part of) Options.OnPoll.
func (w *FinishWatch) Poll(p Poll) {
	if p.Err == nil && !p.Task.Done {
		w.pendingAt = time.Now()
	}
}

// Took is how long a task that was just found done took from its creation
// upstream, when its finish was seen happen.
func (w *FinishWatch) Took(t client.Task) (time.Duration, bool) {
	if !t.Done || w.pendingAt.IsZero() || t.CreatedAt.IsZero() {
		return 0, false
	}
	d := w.pendingAt.Add(time.Since(w.pendingAt) / 2).Sub(t.CreatedAt)
	return d, d > 0
}
