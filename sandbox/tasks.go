package sandbox

import (
	"sync"
	"time"

	"aipaint-mcp/schema"
)

// maxTasks bounds memory when the sandbox serves for a long time; the
// oldest tasks are forgotten first (the real taskId expires after a month).
const maxTasks = 10000

type task struct {
	id         string
	text       string
	style      int // index in schema.Styles
	resolution schema.Resolution
	num        int
	created    time.Time
	ready      time.Time // status 1 from this instant on
}

func (t *task) done(now time.Time) bool { return !now.Before(t.ready) }

type taskStore struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*task
	order []string // insertion order, for eviction
}

func newTaskStore(max int) *taskStore {
	return &taskStore{max: max, byID: map[string]*task{}}
}

func (st *taskStore) add(t *task) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.order) >= st.max {
		delete(st.byID, st.order[0])
		st.order = st.order[1:]
	}
	st.byID[t.id] = t
	st.order = append(st.order, t.id)
}

// get returns the task; tasks are never modified after add, so the pointer
// may be read without the lock.
func (st *taskStore) get(id string) (*task, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.byID[id]
	return t, ok
}
