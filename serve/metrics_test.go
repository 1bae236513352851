package serve_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/serve"
)

func TestCheckMetricsAddr(t *testing.T) {
	for _, tt := range []struct {
		metrics, mcp string
		ok           bool
	}{
		{"127.0.0.1:9464", "0.0.0.0:8000", true},
		{":9464", "127.0.0.1:8080", true},
		{"127.0.0.1:0", "127.0.0.1:0", true},
		{"127.0.0.1:8000", "0.0.0.0:8000", false},
		{":8080", "127.0.0.1:8080", false},
		{"[::1]:8080", "127.0.0.1:8080", false},
		{"9464", "127.0.0.1:8080", false},
	} {
		err := serve.CheckMetricsAddr(tt.metrics, tt.mcp)
		if tt.ok {
			assert.NoError(t, err, "%s beside %s", tt.metrics, tt.mcp)
			continue
		}
		if assert.Error(t, err, "%s beside %s", tt.metrics, tt.mcp) {
			assert.Contains(t, err.Error(), "AIPAINT_METRICS_ADDR")
		}
	}
}

// TestMetricsListener: the listener answers GET /metrics with the handler
// and nothing else, and stops.
func TestMetricsListener(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up 1\n") })
	var log strings.Builder
	stop, err := serve.Metrics("127.0.0.1:0", h, slog.New(slog.NewTextHandler(&log, nil)))
	require.NoError(t, err)
	addr := strings.TrimSpace(strings.SplitN(strings.SplitN(log.String(), "addr=", 2)[1], " ", 2)[0])
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "up 1\n", body)
	code, _ = get("/mcp")
	assert.Equal(t, http.StatusNotFound, code)
	stop()
	_, err = http.Get("http://" + addr + "/metrics")
	assert.Error(t, err, "still serving after stop")
}
