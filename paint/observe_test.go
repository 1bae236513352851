package paint_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
)

// observer records what the service tells it.
type observer struct {
	mu        sync.Mutex
	billed    map[string]int
	downloads int
	takenOver int
}

func (o *observer) Billed(person string, images int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.billed[person] += images
}

func (o *observer) DownloadFailed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.downloads++
}

func (o *observer) TakenOver(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.takenOver += n
}

// TestObserver: images are counted as billed for whoever submitted them,
// once (a deduplicated call pays nothing), failed downloads are counted,
// and the gauges see a call waiting on a task being polled only while it
// waits.
func TestObserver(t *testing.T) {
	obs := &observer{billed: map[string]int{}}
	polled := make(chan struct{}, 1)
	release := make(chan struct{})
	up := &upstream{queryFn: func(id string, n int) (client.Task, error) {
		if id == "t1" {
			select {
			case polled <- struct{}{}:
			default:
			}
			<-release
		}
		return doneTask(id), nil
	}}
	e := newEnv(t, up, func(o *paint.Options) { o.Observer = obs })
	e.dl.fails = 1
	alice := paint.Person{Name: "alice@example.com"}

	done := make(chan error, 1)
	go func() {
		o := waiting()
		o.Person = alice
		_, err := e.svc.Generate(t.Context(), panda, o)
		done <- err
	}()
	select {
	case <-polled:
	case <-time.After(10 * time.Second):
		t.Fatal("the task was never polled")
	}
	assert.Equal(t, 1, e.svc.Waiting(), "calls waiting")
	assert.Equal(t, 1, e.svc.Pending(), "tasks polled")
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, 0, e.svc.Waiting(), "calls waiting after the answer")

	o := waiting()
	o.Person = alice
	out, err := e.svc.Generate(t.Context(), panda, o)
	require.NoError(t, err)
	assert.True(t, out.Deduplicated)
	_, err = e.svc.Generate(t.Context(), client.Request{Text: "另一只", Style: panda.Style, Resolution: panda.Resolution, Num: 1}, waiting())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.svc.Pending() == 0 }, 10*time.Second, 5*time.Millisecond, "background polls end")

	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Equal(t, map[string]int{"alice@example.com": panda.Num, "": 1}, obs.billed)
	assert.Equal(t, 1, obs.downloads)
	assert.Zero(t, obs.takenOver)
}
