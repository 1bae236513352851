package wait

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/client/clienttest"
)

// The waits poll a real client against a scripted upstream: what a wait
// makes of an answer depends on how the client classifies it.

const (
	testAppCode = "ac-test-wait"
	appCodeHdr  = "X-Apig-AppCode" // the gateway's AppCode header
	submitPath  = "/ai/paint/submit"
	queryPath   = "/ai/paint/query"
)

// newTestPoller polls u through a client with millisecond retries, and
// neither the client nor the poller jitters.
func newTestPoller(t *testing.T, u *clienttest.Upstream, opts ...func(*client.Config)) *Poller {
	t.Helper()
	cfg := client.Config{
		SubmitURL:      u.URL + submitPath,
		QueryURL:       u.URL + queryPath,
		AppCode:        testAppCode,
		HTTPClient:     u.Client(),
		RequestTimeout: 5 * time.Second,
		QueryAttempts:  3,
		RetryBase:      time.Millisecond,
		Jitter:         func() float64 { return 0 },
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := client.New(cfg)
	require.NoError(t, err)
	return NewPoller(c, PollerOptions{Jitter: func() float64 { return 0 }})
}

// queryAttempts makes Query retry n times: a wait must not (it uses QueryOnce).
func queryAttempts(n int) func(*client.Config) {
	return func(c *client.Config) { c.QueryAttempts = n }
}

const htmlPage = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"

func apiError(t *testing.T, err error) *client.APIError {
	t.Helper()
	e, ok := errors.AsType[*client.APIError](err)
	require.True(t, ok, "%v is not an *client.APIError", err)
	return e
}
