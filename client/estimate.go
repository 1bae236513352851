package client

import (
	"slices"
	"strconv"
	"sync"
	"time"
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

// EstimateKey names the kind of a task: its duration depends on the
// resolution and the number of images.
func EstimateKey(resolution string, num int) string {
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
