package tools

import (
	"sync"

	"aipaint-mcp/schema"
)

// recent remembers the requests behind tasks this process submitted, so
// check_task can echo them. Bounded: the oldest entry goes first.
type recent struct {
	mu    sync.Mutex
	limit int
	m     map[string]schema.Generate
	order []string
}

func newRecent(limit int) *recent {
	return &recent{limit: limit, m: make(map[string]schema.Generate)}
}

func (r *recent) add(id string, g schema.Generate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; !ok {
		r.order = append(r.order, id)
	}
	r.m[id] = g
	for len(r.order) > r.limit {
		delete(r.m, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recent) get(id string) (schema.Generate, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.m[id]
	return g, ok
}
