package sandbox

import "sync"

// fifo is a bounded map that forgets its oldest entry first. Safe for
// concurrent use.
type fifo[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	data  map[K]V
	order []K
}

func newFIFO[K comparable, V any](max int) *fifo[K, V] {
	return &fifo[K, V]{max: max, data: map[K]V{}}
}

func (f *fifo[K, V]) get(k K) (V, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[k]
	return v, ok
}

// put keeps the first value stored for k.
func (f *fifo[K, V]) put(k K, v V) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.data[k]; dup {
		return
	}
	if len(f.order) >= f.max {
		delete(f.data, f.order[0])
		f.order = f.order[1:]
	}
	f.data[k] = v
	f.order = append(f.order, k)
}
