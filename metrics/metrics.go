// Package metrics counts what the operator of a server watches and pages
// on, and writes it in the Prometheus text format. It knows nothing of MCP,
// of the upstream or of the store: app wires their hooks to a Registry.
// Nothing here is registered or started until New is called, which the
// server does only when AIPAINT_METRICS_ADDR is set: a desktop server pays
// for none of it.
//
// Names follow the OpenTelemetry semantic conventions where they have one
// (mcp.server.operation.duration, mcp.method.name, gen_ai.tool.name,
// error.type), spelled as Prometheus exports them; the others are the
// server's own, prefixed aipaint_. Every label is bounded: methods, tools,
// operations, outcomes and the people of the tokens file; never a task id
// or a prompt.
package metrics

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Names of the metrics.
const (
	OperationDuration = "mcp_server_operation_duration_seconds"
	ImagesBilled      = "aipaint_images_billed_total"
	UpstreamRequests  = "aipaint_upstream_requests_total"
	UpstreamDuration  = "aipaint_upstream_request_duration_seconds"
	TasksPending      = "aipaint_tasks_pending"
	WaitingCalls      = "aipaint_waiting_calls"
	StoreErrors       = "aipaint_store_errors_total"
	LeaseTakeovers    = "aipaint_lease_takeovers_total"
	DownloadsFailed   = "aipaint_downloads_failed_total"
	ImagesToday       = "aipaint_images_today"
	DailyImageLimit   = "aipaint_daily_image_limit"
)

// help says what each metric is, on its # HELP line.
var help = map[string]string{
	OperationDuration: "Duration of MCP requests as the server answered them (OpenTelemetry mcp.server.operation.duration).",
	ImagesBilled:      "Images submitted and accepted by the paid API, so billed, by person of the tokens file.",
	UpstreamRequests:  "HTTP requests to the paid API, retries included, by operation and outcome (ok or the failure's category).",
	UpstreamDuration:  "Duration of HTTP requests to the paid API, by operation.",
	TasksPending:      "Pending tasks this server polls now.",
	WaitingCalls:      "Tool calls waiting for their pictures now.",
	StoreErrors:       "Failures of the task store, by the store's method.",
	LeaseTakeovers:    "Pending tasks this server took over from another server.",
	DownloadsFailed:   "Images that could not be saved (retried in the background).",
	ImagesToday:       "Images the whole account submitted today (of AIPAINT_TIMEZONE), as the shared store counts them; NaN while it cannot be read.",
	DailyImageLimit:   "AIPAINT_DAILY_IMAGE_LIMIT, the account's images a day (0 = no limit).",
}

// operationBuckets are the bucket bounds the OpenTelemetry MCP semantic
// conventions give mcp.server.operation.duration: a tools/call that waits
// for pictures takes up to a minute.
var operationBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// upstreamBuckets cover one HTTP request to the upstream, up to its 30 s
// timeout.
var upstreamBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Registry holds one server's metrics. Safe for concurrent use.
type Registry struct {
	set *vm.Set
}

// New makes a Registry, with the unlabelled counters at zero from the start
// (a rate over a series that does not exist yet is no rate).
func New() *Registry {
	vm.ExposeMetadata(true) // # TYPE lines: parsers see histograms and counters, not untyped samples
	r := &Registry{set: vm.NewSet()}
	r.set.GetOrCreateCounter(LeaseTakeovers)
	r.set.GetOrCreateCounter(DownloadsFailed)
	return r
}

// Operation observes one MCP request as the server answered it: its method,
// the tool of a tools/call, and errorType when it failed ("tool_error" for
// a tool result with isError, else the JSON-RPC error code).
func (r *Registry) Operation(method, tool, errorType string, took time.Duration) {
	labels := []string{"mcp_method_name", method}
	if tool != "" {
		labels = append(labels, "gen_ai_tool_name", tool)
	}
	if errorType != "" {
		labels = append(labels, "error_type", errorType)
	}
	r.set.GetOrCreatePrometheusHistogramExt(name(OperationDuration, labels...), operationBuckets).Update(took.Seconds())
}

// Billed counts images submitted (and so paid for) on behalf of person, the
// tokens file's name ("" on a single-user server).
func (r *Registry) Billed(person string, images int) {
	r.set.GetOrCreateCounter(name(ImagesBilled, "person", person)).Add(images)
}

// Upstream observes one HTTP request to the paid API: op is submit or
// query, outcome "ok" or the upstream client's category of the failure.
func (r *Registry) Upstream(op, outcome string, took time.Duration) {
	r.set.GetOrCreateCounter(name(UpstreamRequests, "op", op, "outcome", outcome)).Inc()
	r.set.GetOrCreatePrometheusHistogramExt(name(UpstreamDuration, "op", op), upstreamBuckets).Update(took.Seconds())
}

// StoreFailed counts a failure of the task store, by the store's method.
func (r *Registry) StoreFailed(method string) {
	r.set.GetOrCreateCounter(name(StoreErrors, "method", method)).Inc()
}

// TakenOver counts pending tasks this server took over from another: one
// that stopped renewing their leases (it died, or stalled), or stopped and
// handed them over.
func (r *Registry) TakenOver(tasks int) { r.set.GetOrCreateCounter(LeaseTakeovers).Add(tasks) }

// DownloadFailed counts an image that could not be saved.
func (r *Registry) DownloadFailed() { r.set.GetOrCreateCounter(DownloadsFailed).Inc() }

// Gauges reads the tasks this server follows and the calls waiting for
// pictures at every scrape.
func (r *Registry) Gauges(pending, waiting func() int) {
	r.set.GetOrCreateGauge(TasksPending, func() float64 { return float64(pending()) })
	r.set.GetOrCreateGauge(WaitingCalls, func() float64 { return float64(waiting()) })
}

// DailyUsage reports the account's images today against its daily limit
// (nil = none, reported as 0), so an alert can fire before the limit
// refuses calls. today is read at each scrape; an error reports NaN.
func (r *Registry) DailyUsage(today func() (int, error), limit *int) {
	r.set.GetOrCreateGauge(ImagesToday, func() float64 {
		n, err := today()
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
	l := 0
	if limit != nil {
		l = *limit
	}
	r.set.GetOrCreateGauge(DailyImageLimit, func() float64 { return float64(l) })
}

// ServeHTTP writes every metric in the Prometheus text format, with the
// help texts (the library writes # HELP lines without one).
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var page bytes.Buffer
	r.set.WritePrometheus(&page)
	for line := range strings.Lines(page.String()) {
		if name, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "# HELP "); ok && help[name] != "" {
			line = "# HELP " + name + " " + help[name] + "\n"
		}
		_, _ = io.WriteString(w, line)
	}
}

// labelValue escapes a label value as the text format wants it: a
// backslash, a double quote and a line feed are escaped, the rest (UTF-8,
// '@' of an e-mail address) is written as it is.
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// name is a series' name with its labels, given as name, value pairs.
func name(metric string, labels ...string) string {
	var b strings.Builder
	b.WriteString(metric)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(labelValue.Replace(labels[i+1]))
		b.WriteByte('"')
	}
	if len(labels) > 0 {
		b.WriteByte('}')
	}
	return b.String()
}
