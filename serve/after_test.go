package serve

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAfterFirstAnswer(t *testing.T) {
	for _, first := range []struct{ name, request string }{
		{"initialize", initializeRequest},
		{"ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`},
	} {
		t.Run(first.name, func(t *testing.T) {
			var calls atomic.Int32
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			out := AfterFirstAnswer(outW, time.Hour, func() { calls.Add(1) })
			done := make(chan error, 1)
			go func() { done <- Stdio(context.Background(), newMCPServer(), inR, out, nil) }()
			t.Cleanup(func() { _ = inW.Close(); _ = outR.Close() })
			lines := make(chan []byte, 4)
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := outR.Read(buf)
					if err != nil {
						close(lines)
						return
					}
					lines <- append([]byte(nil), buf[:n]...)
				}
			}()

			assert.Zero(t, calls.Load(), "called before any answer")
			_, err := io.WriteString(inW, first.request+"\n")
			require.NoError(t, err)
			select {
			case line := <-lines:
				assert.Contains(t, string(line), `"id":1`)
			case <-time.After(startBound):
				t.Fatal("no answer")
			}
			require.Eventually(t, func() bool { return calls.Load() == 1 }, startBound, time.Millisecond, "not called after the first answer")

			_, err = io.WriteString(inW, `{"jsonrpc":"2.0","id":2,"method":"ping"}`+"\n")
			require.NoError(t, err)
			<-lines
			require.NoError(t, inW.Close())
			require.NoError(t, <-done)
			assert.EqualValues(t, 1, calls.Load(), "called once")
		})
	}
}

func TestAfterFirstAnswerWithoutAClient(t *testing.T) {
	var calls atomic.Int32
	called := make(chan struct{}, 2)
	out := AfterFirstAnswer(io.Discard, time.Millisecond, func() { calls.Add(1); called <- struct{}{} })
	select {
	case <-called:
	case <-time.After(startBound):
		t.Fatal("not called when nothing was written")
	}
	_, err := out.Write([]byte("{}\n"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, calls.Load(), "called once")
}
