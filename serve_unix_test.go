//go:build unix

package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// An HTTP server's first SIGTERM or SIGINT starts its stop (stopping ends),
// the second cuts it short (abort closes). The test watches both signals
// too, so that they do not end the test binary.
func TestStopSignals(t *testing.T) {
	send := selfSignal(t, syscall.SIGTERM, syscall.SIGINT)
	for _, second := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		stopping, abort, unwatch := stopSignals(context.Background(), 0)
		send(syscall.SIGTERM)
		select {
		case <-stopping.Done():
		case <-time.After(answerBound):
			t.Fatal("the first signal did not start the stop")
		}
		if closed(abort) {
			t.Fatal("one signal cut the stop short")
		}
		send(second)
		select {
		case <-abort:
		case <-time.After(answerBound):
			t.Fatalf("a second signal (%s) did not cut the stop short", second)
		}
		unwatch()
	}
	// The same stop delivered twice at once (to the process, then to its
	// group) is one signal.
	stopping, abort, unwatch := stopSignals(context.Background(), time.Hour)
	send(syscall.SIGTERM)
	send(syscall.SIGTERM)
	<-stopping.Done()
	assert.Never(t, func() bool { return closed(abort) }, 100*time.Millisecond, 10*time.Millisecond, "a signal echoed within the window cut the stop short")
	unwatch()

	_, abort, unwatch = stopSignals(context.Background(), 0)
	unwatch()
	send(syscall.SIGTERM)
	send(syscall.SIGTERM)
	assert.Never(t, func() bool { return closed(abort) }, 100*time.Millisecond, 10*time.Millisecond, "signals after unwatch are not followed")
}
