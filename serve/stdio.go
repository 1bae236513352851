package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"

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
