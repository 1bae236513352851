package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"aipaint-mcp/signer"
)

// Config configures a Client. URLs and one kind of credentials are required.
type Config struct {
	SubmitURL string
	QueryURL  string
	AppKey    string
	AppSecret string
	AppCode   string // used when AppKey/AppSecret are not both set
	Format    Format // default FormatForm

	HTTPClient       *http.Client     // default: proxy from env, verified TLS (RootCAs), redirects not followed
	RootCAs          *x509.CertPool   // roots of the default HTTPClient; nil = the system's (see LoadCAFile)
	MaxConcurrency   int              // upstream requests in flight at once, retries included; default 8
	Now              func() time.Time // signing clock; default time.Now
	Logger           *slog.Logger     // default: discard
	RequestTimeout   time.Duration    // per HTTP attempt; default 30s
	MaxResponseBytes int64            // default 1 MiB
	QueryAttempts    int              // default 3
	SubmitAttempts   int              // default 3 (only resends that cannot bill twice)
	RetryBase        time.Duration    // first retry delay; default 500ms
	Jitter           func() float64   // in [0,1); default math/rand
	// Observe, when set, is told of every HTTP attempt: its operation,
	// "ok" or the failure's Category, and how long it took (for metrics);
	// not of one the caller's context ended, unless it may have billed.
	Observe func(op Op, outcome string, took time.Duration)
}

// Client is the one shared upstream client. It is safe for concurrent use.
type Client struct {
	cfg   Config
	slots chan struct{} // one token per request in flight
}

// Errors from New.
var (
	ErrNoCredentials = errors.New("no credentials: set AppKey and AppSecret, or AppCode")
	ErrNoURL         = errors.New("submit and query URLs are required")
)

// New checks the configuration and fills in defaults.
func New(cfg Config) (*Client, error) {
	if cfg.SubmitURL == "" || cfg.QueryURL == "" {
		return nil, ErrNoURL
	}
	for _, raw := range []string{cfg.SubmitURL, cfg.QueryURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("invalid URL %q: want https://host/path", raw)
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("URL %q has a query string; parameters go in the body", raw)
		}
	}
	if !(cfg.AppKey != "" && cfg.AppSecret != "") && cfg.AppCode == "" {
		return nil, ErrNoCredentials
	}
	if cfg.Format == "" {
		cfg.Format = FormatForm
	}
	if cfg.Format != FormatForm && cfg.Format != FormatJSON {
		return nil, fmt.Errorf("unknown request format %q: want form or json", cfg.Format)
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient(cfg.RootCAs, cfg.MaxConcurrency)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	if cfg.QueryAttempts <= 0 {
		cfg.QueryAttempts = 3
	}
	if cfg.SubmitAttempts <= 0 {
		cfg.SubmitAttempts = 3
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	return &Client{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrency)}, nil
}

// DefaultMaxConcurrency is the default cap on upstream requests in flight.
const DefaultMaxConcurrency = 8

// AuthMode names the credential kind in use ("AppKey/AppSecret" or "AppCode").
func (c *Client) AuthMode() string {
	if c.cfg.AppKey != "" && c.cfg.AppSecret != "" {
		return "AppKey/AppSecret"
	}
	return "AppCode"
}

// envelope is every JSON shape the upstream sends: a business answer or a gateway error.
type envelope struct {
	Code      json.RawMessage `json:"code"`
	Msg       string          `json:"msg"`
	TaskNo    string          `json:"taskNo"`
	Data      json.RawMessage `json:"data"`
	ErrorCode string          `json:"error_code"`
	ErrorMsg  string          `json:"error_msg"`
	RequestID string          `json:"request_id"`

	status int // the HTTP status it came with (any 2xx)
}

// UnmarshalJSON tolerates a number where a string is documented:
// a billed task must not be dropped because taskNo came as a number.
func (e *envelope) UnmarshalJSON(b []byte) error {
	var raw struct {
		Code      json.RawMessage `json:"code"`
		Data      json.RawMessage `json:"data"`
		Msg       json.RawMessage `json:"msg"`
		TaskNo    json.RawMessage `json:"taskNo"`
		ErrorCode json.RawMessage `json:"error_code"`
		ErrorMsg  json.RawMessage `json:"error_msg"`
		RequestID json.RawMessage `json:"request_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	e.Code, e.Data = raw.Code, raw.Data
	e.Msg, e.TaskNo = scalarText(raw.Msg), scalarText(raw.TaskNo)
	e.ErrorCode, e.ErrorMsg, e.RequestID = scalarText(raw.ErrorCode), scalarText(raw.ErrorMsg), scalarText(raw.RequestID)
	return nil
}

// scalarText is a JSON string's value, or a number's text (every digit kept); "" otherwise.
func scalarText(raw json.RawMessage) string {
	// By the first byte, so that an absent field (most of them, on every
	// poll) costs nothing and a present one one typed decoding.
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case c == '-' || '0' <= c && c <= '9':
		var f float64 // what decoding into any would make of it, overflow included
		if json.Unmarshal(raw, &f) != nil {
			return ""
		}
		return string(raw)
	}
	return ""
}

// Submit sends one paid request. It is resent only when the first attempt
// provably billed nothing (never after a timeout or a dropped connection).
func (c *Client) Submit(ctx context.Context, req Request) (SubmitResult, error) {
	params := [][2]string{
		{"text", req.Text},
		{"resolution", req.Resolution},
		{"style", req.Style},
		{"num", strconv.Itoa(req.Num)},
	}
	env, err := c.call(ctx, OpSubmit, c.cfg.SubmitURL, params, c.cfg.SubmitAttempts)
	if err != nil {
		return SubmitResult{}, err
	}
	var data struct {
		TaskID json.RawMessage `json:"taskId"` // a string as documented; a number is tolerated
	}
	err = json.Unmarshal(env.Data, &data)
	taskID := strings.TrimSpace(scalarText(data.TaskID))
	if err != nil || taskID == "" {
		// Accepted and billed, yet no id: nothing to poll, say so loudly.
		e := &APIError{Op: OpSubmit, Kind: KindDecode, HTTPStatus: env.status,
			Message: "accepted (code 200) but no taskId in the answer; the request may have been billed", TaskNo: env.TaskNo}
		e.settle(acceptedNoTaskID)
		return SubmitResult{}, e
	}
	return SubmitResult{TaskID: taskID, TaskNo: env.TaskNo}, nil
}

// Query reads a task's state once (with retries on transient failures).
func (c *Client) Query(ctx context.Context, taskID string) (Task, error) {
	return c.query(ctx, taskID, c.cfg.QueryAttempts)
}

// QueryOnce reads a task's state with a single request, never retried: the
// poll of a wait, which does its own retrying at its own pace.
func (c *Client) QueryOnce(ctx context.Context, taskID string) (Task, error) {
	return c.query(ctx, taskID, 1)
}

func (c *Client) query(ctx context.Context, taskID string, attempts int) (Task, error) {
	env, err := c.call(ctx, OpQuery, c.cfg.QueryURL, [][2]string{{"taskId", taskID}}, attempts)
	if err != nil {
		return Task{}, err
	}
	var data struct {
		Status     json.RawMessage   `json:"status"`
		Img        string            `json:"img"`
		ImgURLs    []json.RawMessage `json:"imgUrls"` // [{"image": url}] as documented; bare strings tolerated
		CreateTime string            `json:"createTime"`
	}
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &data); err != nil {
			return Task{}, &APIError{Op: OpQuery, Kind: KindDecode, Category: CategoryTransient, HTTPStatus: env.status,
				Message: "the data field is not the documented object", TaskNo: env.TaskNo, Retryable: true}
		}
	}
	status, _ := parseCode(data.Status)
	t := Task{TaskID: taskID, TaskNo: env.TaskNo, Done: status == 1}
	for _, raw := range data.ImgURLs {
		if u := imageURL(raw); isWebURL(u) {
			t.Images = append(t.Images, u)
		}
	}
	if len(t.Images) == 0 && isWebURL(data.Img) {
		t.Images = []string{data.Img}
	}
	if ct, err := time.ParseInLocation(CreateTimeLayout, data.CreateTime, ChinaTime); err == nil {
		t.CreatedAt = ct
	}
	if t.Done && len(t.Images) == 0 {
		return Task{}, &APIError{Op: OpQuery, Kind: KindDecode, Category: CategoryUnknown, HTTPStatus: env.status,
			Message: "the task is marked done but no image URL was returned", TaskNo: env.TaskNo}
	}
	return t, nil
}

// call encodes the body once, then sends it (re-signed each time) until it
// succeeds, fails for good, or runs out of attempts.
func (c *Client) call(ctx context.Context, op Op, target string, params [][2]string, attempts int) (*envelope, error) {
	body, contentType := c.encode(params)
	for attempt := 1; ; attempt++ {
		start := time.Now()
		env, apiErr := c.attempt(ctx, op, target, body, contentType)
		took := time.Since(start)
		c.logAttempt(op, target, attempt, took, env, apiErr)
		// A failure because the caller left (a wait that ended, a client
		// gone, the drain) says nothing of the upstream: not counted, unless
		// it may have billed (a submit cut off after it was sent).
		if c.cfg.Observe != nil && (apiErr == nil || ctx.Err() == nil || apiErr.MaybeBilled) {
			outcome := "ok"
			if apiErr != nil {
				outcome = string(apiErr.Category)
			}
			c.cfg.Observe(op, outcome, took)
		}
		if apiErr == nil {
			return env, nil
		}
		retry := apiErr.Retryable
		if op == OpSubmit {
			retry = apiErr.safeToResend()
		}
		if !retry || attempt >= attempts {
			return nil, apiErr
		}
		d := time.Duration(float64(c.cfg.RetryBase<<(attempt-1)) * (0.5 + c.cfg.Jitter()))
		if err := Sleep(ctx, d); err != nil {
			return nil, apiErr
		}
	}
}

func (c *Client) logAttempt(op Op, target string, attempt int, took time.Duration, env *envelope, err *APIError) {
	if !c.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		return // every poll comes here: build nothing that will not be logged
	}
	attrs := []any{"op", string(op), "attempt", attempt, "ms", took.Milliseconds(), "url", redactURL(target)}
	if env != nil {
		c.cfg.Logger.Debug("upstream ok", append(attrs, "taskNo", env.TaskNo)...)
		return
	}
	attrs = append(attrs, "kind", err.Kind, "category", err.Category, "http", err.HTTPStatus,
		"code", err.Code, "gateway", err.GatewayCode, "ref", err.Reference(), "msg", err.Message)
	if err.Detail != "" {
		attrs = append(attrs, "detail", err.Detail)
	}
	c.cfg.Logger.Debug("upstream failed", attrs...)
}

// redactURL keeps scheme, host and path: never a query or user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func (c *Client) encode(params [][2]string) ([]byte, string) {
	if c.cfg.Format == FormatJSON {
		m := make(map[string]string, len(params))
		for _, p := range params {
			m[p[0]] = p[1]
		}
		b, _ := json.Marshal(m) // a map of strings always marshals
		return b, "application/json;charset=UTF-8"
	}
	v := url.Values{}
	for _, p := range params {
		v.Set(p[0], p[1])
	}
	return []byte(v.Encode()), "application/x-www-form-urlencoded; charset=UTF-8"
}

// attempt sends one signed request and decodes the answer.
func (c *Client) attempt(ctx context.Context, op Op, target string, body []byte, contentType string) (*envelope, *APIError) {
	if err := ctx.Err(); err != nil {
		return nil, &APIError{Op: op, Kind: KindTransport, Category: CategoryNotRunning, Message: "cancelled before sending", Err: err}
	}
	// The slot is taken before signing, so a request that waited for one
	// still carries a fresh X-Sdk-Date; RequestTimeout starts once it has one.
	release, apiErr := c.acquire(ctx, op)
	if apiErr != nil {
		return nil, apiErr
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &APIError{Op: op, Kind: KindTransport, Category: CategoryBadURL, Message: "cannot build request: check the URL", Err: err}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if err := c.authorize(req, body); err != nil {
		return nil, &APIError{Op: op, Kind: KindTransport, Category: CategoryAuth, Message: err.Error(), Err: err}
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, transportError(op, err)
	}
	defer resp.Body.Close()
	return c.decode(op, resp)
}

// authorize adds the APIG credentials: a signature over
// content-type;host;x-sdk-date, or the AppCode header.
func (c *Client) authorize(req *http.Request, body []byte) error {
	if c.cfg.AppKey == "" || c.cfg.AppSecret == "" {
		req.Header.Set(signer.HeaderAppCode, c.cfg.AppCode)
		return nil
	}
	_, err := signer.SignRequest(req, body, c.cfg.AppKey, c.cfg.AppSecret, c.cfg.Now())
	return err
}

// transportError classifies a failure to get an HTTP answer. Only a failure
// to connect proves that nothing reached the server.
func transportError(op Op, err error) *APIError {
	e := &APIError{Op: op, Kind: KindTransport, Err: err}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		// The handshake failed before the request was sent: nothing billed.
		e.Category, e.Message = CategoryTLS, "the upstream's TLS certificate is not trusted: "+certErr.Err.Error()
		return e
	case errors.Is(err, context.Canceled):
		e.Category, e.Message = CategoryUncertain, "cancelled while waiting for the answer"
	case errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial"):
		e.Category, e.Retryable, e.Message = CategoryTransient, true, "cannot connect to the upstream: "+shortNetErr(err)
		return e
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Category, e.Retryable, e.Message = CategoryUncertain, true, "no answer in time"
	default:
		e.Category, e.Retryable, e.Message = CategoryUncertain, true, "connection failed mid-request: "+shortNetErr(err)
	}
	if !e.settle(sentNoAnswer) {
		e.Category = CategoryTransient
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// shortNetErr drops the URL that url.Error prepends.
func shortNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// decode reads a size-limited body and turns it into an envelope or an APIError.
func (c *Client) decode(op Op, resp *http.Response) (*envelope, *APIError) {
	requestID := resp.Header.Get("X-Request-Id")
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		e := transportError(op, err)
		e.HTTPStatus, e.RequestID = resp.StatusCode, requestID
		return nil, e
	}
	if int64(len(raw)) > c.cfg.MaxResponseBytes {
		return nil, withStatus(&APIError{Op: op, Kind: KindDecode, HTTPStatus: resp.StatusCode, RequestID: requestID,
			Message: fmt.Sprintf("answer larger than %d bytes", c.cfg.MaxResponseBytes)}, op, resp.StatusCode)
	}
	if resp.StatusCode/100 == 3 {
		return nil, withStatus(&APIError{Op: op, Kind: KindDecode, HTTPStatus: resp.StatusCode, RequestID: requestID,
			Message: "redirected elsewhere: the API does not redirect, check the URL (http or https?)"}, op, resp.StatusCode)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt == "" {
			mt = "no content type"
		}
		return nil, withStatus(&APIError{Op: op, Kind: KindDecode, HTTPStatus: resp.StatusCode, RequestID: requestID,
			Message: fmt.Sprintf("answer is not JSON (%s, %d bytes)", mt, len(raw))}, op, resp.StatusCode)
	}
	if env.RequestID != "" {
		requestID = env.RequestID
	}
	if env.ErrorCode != "" {
		e := gatewayError(op, env.ErrorCode, resp.StatusCode, env.ErrorMsg, requestID)
		if e.Category == CategoryAuth {
			e.ClockSkew = clockSkew(c.cfg.Now(), resp.Header.Get("Date"))
		}
		return nil, e
	}
	code, ok := parseCode(env.Code)
	switch {
	case !ok:
		return nil, withStatus(&APIError{Op: op, Kind: KindDecode, HTTPStatus: resp.StatusCode, RequestID: requestID,
			TaskNo: env.TaskNo, Message: "answer has no code field"}, op, resp.StatusCode)
	case code != 200:
		e := businessError(op, code, resp.StatusCode, env.Msg, env.TaskNo)
		e.RequestID = requestID
		return nil, e
	case resp.StatusCode/100 != 2:
		e := withStatus(&APIError{Op: op, Kind: KindDecode, HTTPStatus: resp.StatusCode, RequestID: requestID,
			TaskNo: env.TaskNo, Message: "code 200 with an HTTP error status"}, op, resp.StatusCode)
		e.settle(acceptedBadStatus)
		return nil, e
	}
	env.status = resp.StatusCode
	return &env, nil
}

// withStatus classifies an undecodable answer by its HTTP status.
func withStatus(e *APIError, op Op, status int) *APIError {
	info := statusInfo(status)
	if status/100 == 2 {
		info = codeInfo{category: CategoryUnknown, retryable: op == OpQuery}
	}
	e.Category, e.Retryable = info.category, info.retryable
	switch {
	case status/100 == 2:
		e.settle(undecodable)
	case status == http.StatusGatewayTimeout:
		e.settle(gatewayTimeout) // APIG.0203 without its JSON
	}
	return e
}

// imageURL reads one imgUrls entry: {"image": url} or a bare string.
func imageURL(raw json.RawMessage) string {
	var obj struct {
		Image string `json:"image"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Image
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// isWebURL keeps only http(s) image links: anything else is not a picture to show.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// parseCode reads a code sent as a JSON number or a string of digits.
func parseCode(raw json.RawMessage) (int, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// clockSkew is how far the local clock is ahead of the server's Date header.
func clockSkew(now time.Time, date string) time.Duration {
	t, err := http.ParseTime(date)
	if err != nil {
		return 0
	}
	return now.Sub(t).Round(time.Second)
}

// Sleep waits d or until ctx ends (then it returns ctx's error). It is the
// one such pause of the module: the retries here, package wait's polls and
// the task store's wait for an identical request in flight all use it.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
