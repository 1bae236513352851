//go:build unix

package main

import (
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGTERM shuts the server down only between its first answer and its end.
// The test watches SIGTERM itself too, so that one sent outside that span
// does not end the test binary.
func TestSignalsAfterFirstAnswer(t *testing.T) {
	send := selfSignal(t, syscall.SIGTERM)
	term := func() { t.Helper(); send(syscall.SIGTERM) }

	shutdown, resume := newCounter(), newCounter()
	out, end := afterFirstAnswer(io.Discard, shutdown.call, resume.call)
	term()
	_, err := out.Write([]byte("{}\n"))
	require.NoError(t, err)
	assert.Zero(t, shutdown.n.Load(), "a signal before the first answer is not watched")

	term()
	shutdown.await(t, "shutdown at SIGTERM after the first answer")
	end()
	term()
	assert.EqualValues(t, 1, shutdown.n.Load(), "no shutdown after the end")
}
