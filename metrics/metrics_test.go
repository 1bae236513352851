package metrics_test

import (
	"errors"
	"io"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/metrics"
	"aipaint-mcp/metrics/metricstest"
)

func scrape(t *testing.T, r *metrics.Registry) metricstest.Families {
	t.Helper()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return metricstest.Parse(t, string(body))
}

// TestPageParses: every metric, with label values that need escaping (a
// person's name may be an e-mail address, or hold a quote), reads back
// through Prometheus's parser with its type, labels and value.
func TestPageParses(t *testing.T) {
	r := metrics.New()
	pending, waiting := 3, 2
	r.Gauges(func() int { return pending }, func() int { return waiting })
	r.Operation("initialize", "", "", 5*time.Millisecond)
	r.Operation("tools/call", "generate_image", "", 1500*time.Millisecond)
	r.Operation("tools/call", "generate_image", "tool_error", 40*time.Millisecond)
	r.Operation("tools/call", "nope", "-32602", time.Millisecond)
	odd := "ann@example.com \"x\" \\ 张\nnext"
	r.Billed(odd, 2)
	r.Billed(odd, 4)
	r.Billed("", 1)
	r.Upstream("submit", "ok", 200*time.Millisecond)
	r.Upstream("query", "ok", 50*time.Millisecond)
	r.Upstream("query", "transient", 2*time.Second)
	r.StoreFailed("reserve")
	r.DownloadFailed()

	fams := scrape(t, r)
	op := fams[metrics.OperationDuration]
	assert.Equal(t, "histogram", op.Type)
	calls := map[string]string{"mcp_method_name": "tools/call", "gen_ai_tool_name": "generate_image"}
	assert.Equal(t, 2.0, fams.Sum(metrics.OperationDuration, metrics.OperationDuration+"_count", calls))
	failed := fams.Find(metrics.OperationDuration, metrics.OperationDuration+"_count",
		map[string]string{"gen_ai_tool_name": "generate_image", "error_type": "tool_error"})
	require.Len(t, failed, 1)
	assert.Equal(t, 1.0, failed[0].Value)
	// The 1.5 s call is in the 2 s bucket and not in the 1 s one.
	ok := map[string]string{"gen_ai_tool_name": "generate_image"}
	buckets := fams.Find(metrics.OperationDuration, metrics.OperationDuration+"_bucket", ok)
	le := map[string]float64{}
	for _, b := range buckets {
		if _, failed := b.Labels["error_type"]; !failed {
			le[b.Labels["le"]] = b.Value
		}
	}
	assert.Equal(t, 0.0, le["1"], "buckets %v", le)
	assert.Equal(t, 1.0, le["2"], "buckets %v", le)
	assert.Equal(t, 1.0, le["+Inf"], "buckets %v", le)
	init := fams.Find(metrics.OperationDuration, metrics.OperationDuration+"_count", map[string]string{"mcp_method_name": "initialize"})
	require.Len(t, init, 1)
	_, hasTool := init[0].Labels["gen_ai_tool_name"]
	assert.False(t, hasTool, "initialize has no tool label")

	billed := fams["aipaint_images_billed"]
	assert.Equal(t, "counter", billed.Type)
	assert.Equal(t, 6.0, fams.Sum("aipaint_images_billed", metrics.ImagesBilled, map[string]string{"person": odd}))
	assert.Equal(t, 1.0, fams.Sum("aipaint_images_billed", metrics.ImagesBilled, map[string]string{"person": ""}))

	assert.Equal(t, 2.0, fams.Sum("aipaint_upstream_requests", metrics.UpstreamRequests, map[string]string{"op": "query"}))
	assert.Equal(t, 1.0, fams.Sum("aipaint_upstream_requests", metrics.UpstreamRequests, map[string]string{"op": "query", "outcome": "transient"}))
	assert.Equal(t, "histogram", fams[metrics.UpstreamDuration].Type)
	assert.Equal(t, 2.0, fams.Sum(metrics.UpstreamDuration, metrics.UpstreamDuration+"_count", map[string]string{"op": "query"}))

	assert.Equal(t, "gauge", fams[metrics.TasksPending].Type)
	assert.Equal(t, 3.0, fams.Sum(metrics.TasksPending, metrics.TasksPending, nil))
	assert.Equal(t, 2.0, fams.Sum(metrics.WaitingCalls, metrics.WaitingCalls, nil))
	pending, waiting = 0, 5 // read at every scrape
	fams = scrape(t, r)
	assert.Equal(t, 0.0, fams.Sum(metrics.TasksPending, metrics.TasksPending, nil))
	assert.Equal(t, 5.0, fams.Sum(metrics.WaitingCalls, metrics.WaitingCalls, nil))

	assert.Equal(t, 1.0, fams.Sum("aipaint_store_errors", metrics.StoreErrors, map[string]string{"method": "reserve"}))
	assert.Equal(t, 1.0, fams.Sum("aipaint_downloads_failed", metrics.DownloadsFailed, nil))
	assert.Len(t, fams.Find("aipaint_lease_takeovers", metrics.LeaseTakeovers, nil), 1, "at zero before the first")
	for name, f := range fams {
		assert.NotEmpty(t, f.Help, "%s has no help text", name)
	}
	assert.Len(t, fams, 9, "every metric is on the page")
}

func TestDailyUsage(t *testing.T) {
	r := metrics.New()
	today, fail := 7, false
	limit := 10
	r.DailyUsage(func() (int, error) {
		if fail {
			return 0, errors.New("store down")
		}
		return today, nil
	}, &limit)
	fams := scrape(t, r)
	assert.Equal(t, 7.0, fams.Sum(metrics.ImagesToday, metrics.ImagesToday, nil))
	assert.Equal(t, 10.0, fams.Sum(metrics.DailyImageLimit, metrics.DailyImageLimit, nil))

	fail = true
	got := scrape(t, r).Sum(metrics.ImagesToday, metrics.ImagesToday, nil)
	assert.True(t, math.IsNaN(got), "an unreadable store reports NaN, not %v", got)

	none := metrics.New()
	none.DailyUsage(func() (int, error) { return 3, nil }, nil)
	assert.Equal(t, 0.0, scrape(t, none).Sum(metrics.DailyImageLimit, metrics.DailyImageLimit, nil), "no limit is 0")
}
