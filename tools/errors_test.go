package tools

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"

	"aipaint-mcp/client"
)

// TestUpstreamErrorWording covers the advice for failures the sandbox cannot
// stage: a request that never got an upstream slot, an untrusted certificate,
// and a clock that is behind rather than ahead.
func TestUpstreamErrorWording(t *testing.T) {
	cases := []struct {
		err  *client.APIError
		want []string
	}{
		{&client.APIError{Op: client.OpQuery, Kind: client.KindTransport, Category: client.CategoryNotRunning,
			Message: "cancelled while waiting for one of the 8 upstream request slots", Err: context.DeadlineExceeded},
			[]string{"was not sent", "nothing was billed"}},
		{&client.APIError{Op: client.OpSubmit, Kind: client.KindTransport, Category: client.CategoryTLS,
			Message: "the upstream's TLS certificate is not trusted: x509: certificate signed by unknown authority"},
			[]string{"not trusted", "nothing was sent or billed", "AIPAINT_CA_FILE", "AIPAINT_SUBMIT_URL"}},
		{&client.APIError{Op: client.OpSubmit, Kind: client.KindGateway, Category: client.CategoryAuth, GatewayCode: "APIG.0303",
			HTTPStatus: 401, ClockSkew: -(17*time.Minute + 3*time.Second)},
			[]string{"clock is more than 15m0s off", "17m3s behind the gateway's clock", "system time"}},
		{&client.APIError{Op: client.OpSubmit, Kind: client.KindGateway, Category: client.CategoryAuth, GatewayCode: "APIG.0303",
			HTTPStatus: 401, Expired: true},
			[]string{"clock is more than 15m0s off", "system time"}},
		{&client.APIError{Op: client.OpSubmit, Kind: client.KindGateway, Category: client.CategoryAuth, GatewayCode: "APIG.0303",
			HTTPStatus: 401, ClockSkew: 2 * time.Second},
			[]string{"Authentication failed", "AIPAINT_APP_SECRET"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.err.Category, c.err.ClockSkew), func(t *testing.T) {
			res := upstreamError(c.err, "")
			assert.True(t, res.IsError)
			text := res.Content[0].(mcp.TextContent).Text
			for _, w := range c.want {
				assert.Contains(t, text, w)
			}
		})
	}
}
