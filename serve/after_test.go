package serve

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAfterInitializeWaitsForTheClient(t *testing.T) {
	srv := newMCPServer()
	var calls atomic.Int32
	called := make(chan struct{}, 2)
	AfterInitialize(srv, time.Hour, func() { calls.Add(1); called <- struct{}{} })
	s := startStdioServer(t, context.Background(), srv)

	s.send(t, initializeRequest)
	s.reply(t)
	s.send(t, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	s.reply(t) // notifications are handled in order: none has come yet
	assert.Zero(t, calls.Load(), "called before the client said it is initialized")

	s.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	select {
	case <-called:
	case <-time.After(startBound):
		t.Fatal("not called after notifications/initialized")
	}
	s.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s.send(t, `{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	s.reply(t)
	require.NoError(t, s.in.Close())
	require.NoError(t, s.wait(t))
	assert.EqualValues(t, 1, calls.Load(), "called once")
}

func TestAfterInitializeWithoutAClient(t *testing.T) {
	srv := newMCPServer()
	var calls atomic.Int32
	called := make(chan struct{}, 2)
	AfterInitialize(srv, time.Millisecond, func() { calls.Add(1); called <- struct{}{} })
	select {
	case <-called:
	case <-time.After(startBound):
		t.Fatal("not called when no client said it is initialized")
	}
	s := startStdioServer(t, context.Background(), srv)
	s.send(t, initializeRequest)
	s.reply(t)
	s.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s.send(t, `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	s.reply(t)
	require.NoError(t, s.in.Close())
	require.NoError(t, s.wait(t))
	assert.EqualValues(t, 1, calls.Load(), "called once")
}
