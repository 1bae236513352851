package main

import (
	"bufio"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/serve"
)

const answerBound = 5 * time.Second

// counter counts calls and tells of each.
type counter struct {
	n      atomic.Int32
	called chan struct{}
}

func newCounter() *counter { return &counter{called: make(chan struct{}, 8)} }

func (c *counter) call() { c.n.Add(1); c.called <- struct{}{} }

func (c *counter) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.called:
	case <-time.After(answerBound):
		t.Fatalf("%s: not called", what)
	}
}

// The stdio server resumes after its first answer (to initialize, or to
// whatever a client of the 2026 protocol sends first), once.
func TestAfterFirstAnswer(t *testing.T) {
	for _, first := range []struct{ name, request string }{
		{"initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`},
		{"ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`},
	} {
		t.Run(first.name, func(t *testing.T) {
			shutdown, resume := newCounter(), newCounter()
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			out, end := afterFirstAnswer(outW, shutdown.call, resume.call)
			defer end()
			done := make(chan error, 1)
			go func() { done <- serve.Stdio(context.Background(), server.NewMCPServer("t", "1"), inR, out, nil) }()
			t.Cleanup(func() { _ = inW.Close(); _ = outR.Close() })
			lines := bufio.NewScanner(outR)

			assert.Zero(t, resume.n.Load(), "resumed before any answer")
			_, err := io.WriteString(inW, first.request+"\n")
			require.NoError(t, err)
			require.True(t, lines.Scan(), "no answer")
			assert.Contains(t, lines.Text(), `"id":1`)
			resume.await(t, "resume after the first answer")

			_, err = io.WriteString(inW, `{"jsonrpc":"2.0","id":2,"method":"ping"}`+"\n")
			require.NoError(t, err)
			require.True(t, lines.Scan(), "no second answer")
			require.NoError(t, inW.Close())
			require.NoError(t, <-done)
			assert.EqualValues(t, 1, resume.n.Load(), "resumed once")
			assert.Zero(t, shutdown.n.Load(), "no signal, no shutdown")
		})
	}
}

func TestAfterFirstAnswerWithoutAClient(t *testing.T) {
	shutdown, resume := newCounter(), newCounter()
	out, end := afterFirstAnswer(io.Discard, shutdown.call, resume.call)
	defer end()
	resume.await(t, "resume with nothing written") // resumeAfter, then resumeLag
	_, err := out.Write([]byte("{}\n"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, resume.n.Load(), "resumed once")
}

// A server that returns before its first answer (a closed stdin) neither
// resumes nor watches signals afterwards.
func TestAfterFirstAnswerEndedFirst(t *testing.T) {
	shutdown, resume := newCounter(), newCounter()
	out, end := afterFirstAnswer(io.Discard, shutdown.call, resume.call)
	end()
	_, err := out.Write([]byte("{}\n"))
	require.NoError(t, err)
	assert.False(t, out.(*firstAnswer).started, "began after the end")
	end() // twice is harmless: deferred and called
}
