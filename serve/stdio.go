package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Stdio serves s on in/out until in closes or ctx ends. Only protocol goes to out.
func Stdio(ctx context.Context, s *server.MCPServer, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ss := server.NewStdioServer(s)
	server.WithWorkerPoolSize(stdioWorkers)(ss)
	server.WithQueueSize(1000)(ss)
	ss.SetErrorLogger(slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	err := ss.Listen(ctx, in, out)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// AfterFirstAnswer returns out, calling f once the first message has been
// written to it (a stdio server's answer to initialize, or to server/discover
// for a client of the 2026 protocol, which sends no initialize), or after
// wait if nothing has been written by then (no client at all), whichever
// comes first. It is for work a start can put off so that it does not compete
// with that first answer, which the client waits for before anything else.
// f runs on the writing goroutine or a timer's: it must not block.
func AfterFirstAnswer(out io.Writer, wait time.Duration, f func()) io.Writer {
	w := &firstAnswer{Writer: out}
	t := time.AfterFunc(wait, func() { w.once.Do(f) })
	w.then = func() {
		t.Stop()
		w.once.Do(f)
	}
	return w
}

type firstAnswer struct {
	io.Writer
	once sync.Once
	then func()
}

func (w *firstAnswer) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.then()
	return n, err
}
