package tools

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/paint"
	"aipaint-mcp/store"
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

// TestTeamStoreErrorsKeepTheDatabaseToThemselves: on a team server every
// person reads the tool errors, so a failing database is named by its
// setting, never by the driver's error, which names its host, port, database
// and user (the server logs that). A desktop's folder store keeps the error:
// there the reader runs the server.
func TestTeamStoreErrorsKeepTheDatabaseToThemselves(t *testing.T) {
	driver := "failed to connect to `user=aipaint_admin database=aipaint_prod`: db.internal:5432 (10.0.0.7): dial error: connection refused"
	text := func(res *mcp.CallToolResult) string {
		assert.True(t, res.IsError)
		return res.Content[0].(mcp.TextContent).Text
	}
	for name, res := range map[string]*mcp.CallToolResult{
		"store failed": storeFailed(fmt.Errorf("store: reserve: %s", driver), config.StoreURL),
		"not usable": notUsable(&paint.UnavailableError{StoreProblem: config.StoreURL + ": store URL: cannot parse `postgres://xxxxx@db.internal:5432/aipaint_prod?sslmode=bogus`"},
			config.StoreURL),
	} {
		t.Run(name, func(t *testing.T) {
			got := text(res)
			assert.Contains(t, got, config.StoreURL)
			assert.Contains(t, got, "nothing")
			assert.Contains(t, got, "server's log")
			for _, leak := range []string{"aipaint_admin", "aipaint_prod", "db.internal", "10.0.0.7", "5432"} {
				assert.NotContains(t, got, leak)
			}
		})
	}
	assert.Contains(t, text(storeFailed(errors.New("disk full"), config.DataDir)), "disk full", "a desktop's own store keeps the reason")
}

// TestPersonalLimitWording: over a personal limit, "try again tomorrow"; at a
// limit of 0 (the tokens file's "may not submit"), tomorrow is no different.
func TestPersonalLimitWording(t *testing.T) {
	refuse := func(limit int) string {
		res := limitReached(&paint.LimitError{Requested: 1, Person: true,
			Usage: store.Usage{Today: 3, Limit: new(300), Person: &store.PersonUsage{Name: "intern", Today: limit, Limit: &limit}}})
		assert.True(t, res.IsError)
		return res.Content[0].(mcp.TextContent).Text
	}
	got := refuse(2)
	assert.Contains(t, got, "intern's own daily image limit reached")
	assert.Contains(t, got, "try again tomorrow")

	got = refuse(0)
	assert.Contains(t, got, "intern may not submit images")
	assert.Contains(t, got, "上限为 0")
	assert.Contains(t, got, config.TokensFile)
	assert.Contains(t, got, "Nothing was submitted or billed")
	assert.NotContains(t, got, "tomorrow")
}
