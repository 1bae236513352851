//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// selfSignal returns a func that sends a signal to this test binary and
// waits until it has been delivered. The test watches sigs itself too, so
// that one the code under test no longer follows does not end the binary.
func selfSignal(t *testing.T, sigs ...os.Signal) func(syscall.Signal) {
	t.Helper()
	guard := make(chan os.Signal, 4)
	signal.Notify(guard, sigs...)
	t.Cleanup(func() { signal.Stop(guard) })
	return func(sig syscall.Signal) {
		t.Helper()
		require.NoError(t, syscall.Kill(os.Getpid(), sig))
		select {
		case <-guard:
		case <-time.After(answerBound):
			t.Fatalf("%s not delivered", sig)
		}
	}
}

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
