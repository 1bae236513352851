package main

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// A desktop client starts a stdio server and waits for its answer to
// initialize (or to server/discover, for a client of the 2026 protocol,
// which sends no initialize) before anything else; BENCHMARKS.md measures
// that cold start against a bare mcp-go server's. Everything a start can put
// off waits here for that first answer, and nowhere else:
//
//   - watching SIGINT and SIGTERM, which starts a thread (os/signal's):
//     0.15-0.2 ms of CPU, about 0.5 ms on a busy 2-core machine. Until then
//     a signal ends the process as one during the runtime's start always
//     has; no call is in flight yet.
//   - resuming the stored tasks (reading a desktop's store takes 5-10 ms of
//     CPU), resumeLag after the first answer, out of the way of the
//     tools/list, prompts/list and resources/list a client sends right
//     after it. Pending tasks are polled seconds apart: the lag costs
//     nothing.
//
// If no client has asked anything resumeAfter after the start, both begin
// then.
const (
	resumeLag   = 250 * time.Millisecond
	resumeAfter = time.Second
)

// afterFirstAnswer returns stdout as a stdio server should write to it:
// once the first message has been written (or resumeAfter has passed),
// SIGINT and SIGTERM call shutdown, and resume runs resumeLag later. end,
// when the server has returned, stops watching and cancels what has not
// begun. shutdown and resume must not block.
func afterFirstAnswer(stdout io.Writer, shutdown, resume func()) (_ io.Writer, end func()) {
	w := &firstAnswer{Writer: stdout, shutdown: shutdown, resume: resume,
		signals: make(chan os.Signal, 1), ended: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(resumeAfter, w.answered)
	return w, w.end
}

type firstAnswer struct {
	io.Writer
	shutdown, resume func()
	signals          chan os.Signal
	ended            chan struct{} // closed by end

	mu      sync.Mutex
	started bool        // answered has run
	over    bool        // end has run
	timer   *time.Timer // resumeAfter, then resumeLag
}

func (w *firstAnswer) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.answered()
	return n, err
}

// answered begins what waited for the first answer, once.
func (w *firstAnswer) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.over {
		return
	}
	w.started = true
	w.timer.Stop()
	signal.Notify(w.signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-w.signals:
			w.shutdown()
		case <-w.ended:
		}
	}()
	w.timer = time.AfterFunc(resumeLag, w.resume)
}

func (w *firstAnswer) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.over {
		return
	}
	w.over = true
	w.timer.Stop()
	signal.Stop(w.signals)
	close(w.ended)
}
