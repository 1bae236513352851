package client

import (
	"fmt"
	"strings"
	"time"

	"aipaint-mcp/signer"
)

// MaxClockSkew is how far the gateway lets X-Sdk-Date be from its clock: the
// limit an APIError's ClockSkew is judged against (it is signer.MaxClockSkew).
const MaxClockSkew = signer.MaxClockSkew

// Kind says where a failure came from.
type Kind string

// Kinds of APIError.
const (
	KindBusiness  Kind = "business"  // the API answered with a non-200 code in its JSON
	KindGateway   Kind = "gateway"   // the APIG gateway refused (error_code APIG.xxxx)
	KindTransport Kind = "transport" // no usable HTTP answer (dial, timeout, reset)
	KindDecode    Kind = "decode"    // an answer that is not the documented JSON
)

// Category says what a caller can do about a failure.
type Category string

// Categories of APIError.
const (
	CategoryArguments  Category = "arguments"   // fix the request (400, 0201)
	CategoryContent    Category = "content"     // rephrase the text (202)
	CategoryNotFound   Category = "not_found"   // task id unknown or expired (201)
	CategoryTransient  Category = "transient"   // try again later
	CategoryAuth       Category = "auth"        // credentials or clock wrong (0303)
	CategoryForbidden  Category = "forbidden"   // not purchased / not bound (0304)
	CategoryBadURL     Category = "bad_url"     // no such API (0101)
	CategoryUncertain  Category = "uncertain"   // a submit whose outcome is unknown: may be billed
	CategoryUnknown    Category = "unknown"     // 999 or anything undocumented
	CategoryNotRunning Category = "not_running" // the request never left (cancelled before sending)
	CategoryTLS        Category = "tls"         // certificate not trusted (a TLS-inspecting proxy needs its CA); nothing sent
)

// APIError is every failure of a call to the upstream.
type APIError struct {
	Op          Op
	Kind        Kind
	Category    Category
	Code        int    // business code (KindBusiness)
	GatewayCode string // as received, e.g. "APIG.0303" (KindGateway)
	HTTPStatus  int
	Message     string // the upstream's msg / error_msg, or ours
	Detail      string // debugging detail (the gateway's canonical request on 0303); for logs at debug level
	RequestID   string
	TaskNo      string
	Retryable   bool          // trying again (later) can help
	MaybeBilled bool          // a submit that may have been accepted and billed
	ClockSkew   time.Duration // local clock minus the server's Date, when known (0303)
	Expired     bool          // the gateway said the request expired: the clock is off (0303)
	Err         error         // underlying transport error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", e.Op)
	switch e.Kind {
	case KindBusiness:
		fmt.Fprintf(&b, "upstream code %d", e.Code)
	case KindGateway:
		fmt.Fprintf(&b, "gateway %s (HTTP %d)", e.GatewayCode, e.HTTPStatus)
	case KindDecode:
		fmt.Fprintf(&b, "bad response (HTTP %d)", e.HTTPStatus)
	default:
		b.WriteString(string(e.Kind))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if id := e.Reference(); id != "" {
		b.WriteString(" [" + id + "]")
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Reference is the id to quote to support: the gateway request id or the taskNo.
func (e *APIError) Reference() string {
	switch {
	case e.RequestID != "" && e.TaskNo != "":
		return "request_id " + e.RequestID + ", taskNo " + e.TaskNo
	case e.RequestID != "":
		return "request_id " + e.RequestID
	case e.TaskNo != "":
		return "taskNo " + e.TaskNo
	}
	return ""
}

// GatewayNumber is the numeric part of GatewayCode ("0303"), whatever the prefix.
func (e *APIError) GatewayNumber() string {
	_, num, ok := strings.Cut(e.GatewayCode, ".")
	if !ok {
		return e.GatewayCode
	}
	return num
}

type codeInfo struct {
	category  Category
	retryable bool
	meaning   string
	status    int // HTTP status the gateway sends with it (gateway codes only)
}

// businessCodes is the one table of the API's business codes.
var businessCodes = map[int]codeInfo{
	201: {CategoryNotFound, false, "taskId does not exist", 0},
	202: {CategoryContent, false, "text intercepted by content moderation", 0},
	400: {CategoryArguments, false, "parameter error", 0},
	500: {CategoryTransient, true, "provider maintenance, try later", 0},
	501: {CategoryTransient, true, "official data source maintenance, try later", 0},
	999: {CategoryUnknown, false, "other error", 0},
}

// gatewayCodes is the one table of APIG gateway codes (by number).
var gatewayCodes = map[string]codeInfo{
	"0101": {CategoryBadURL, false, "no such API: wrong URL or method", 404},
	"0201": {CategoryArguments, false, "malformed or too large request", 400},
	"0202": {CategoryTransient, true, "backend unavailable", 502},
	"0203": {CategoryTransient, true, "backend timeout", 504},
	"0303": {CategoryAuth, false, "authentication failed: bad AppKey/AppSecret/AppCode, bad signature or clock skew", 401},
	"0304": {CategoryForbidden, false, "app not authorised for this API (not purchased or not bound)", 403},
	"0308": {CategoryTransient, true, "throttled", 429},
}

// GatewayCode describes an APIG gateway code by its number ("0308"): the
// HTTP status it comes with and what it means. Stand-in upstreams use it.
func GatewayCode(num string) (status int, meaning string, ok bool) {
	info, ok := gatewayCodes[num]
	return info.status, info.meaning, ok
}

func businessError(op Op, code, status int, msg, taskNo string) *APIError {
	info, ok := businessCodes[code]
	if !ok {
		info = codeInfo{CategoryUnknown, false, "undocumented code", 0}
	}
	if msg == "" {
		msg = info.meaning
	}
	e := &APIError{Op: op, Kind: KindBusiness, Category: info.category, Code: code, HTTPStatus: status,
		Message: msg, TaskNo: taskNo, Retryable: info.retryable}
	if !ok {
		e.settle(unknownCode)
	}
	return e
}

func gatewayError(op Op, code string, status int, msg, requestID string) *APIError {
	e := &APIError{Op: op, Kind: KindGateway, GatewayCode: code, HTTPStatus: status, RequestID: requestID}
	info, ok := gatewayCodes[e.GatewayNumber()]
	if !ok {
		info = statusInfo(status)
	}
	e.Category, e.Retryable, e.Message = info.category, info.retryable, info.meaning
	if e.GatewayNumber() == "0303" {
		// The gateway echoes its canonical request here: useful when debugging a
		// signature, noise for a model.
		e.Detail = msg
		if strings.Contains(strings.ToLower(msg), "expire") || strings.Contains(strings.ToLower(msg), "skew") {
			e.Message, e.Expired = "request expired: the local clock is more than 15 minutes off", true
		}
	} else if msg != "" {
		e.Message = info.meaning + ": " + msg
	}
	if e.GatewayNumber() == "0203" {
		e.settle(gatewayTimeout)
	}
	return e
}

// statusInfo classifies an HTTP status that came without a recognisable body.
func statusInfo(status int) codeInfo {
	switch {
	case status == 401:
		return codeInfo{CategoryAuth, false, "unauthorised (HTTP 401)", 0}
	case status == 403:
		return codeInfo{CategoryForbidden, false, "forbidden (HTTP 403)", 0}
	case status == 404:
		return codeInfo{CategoryBadURL, false, "not found (HTTP 404): check the URL", 0}
	case status/100 == 3:
		return codeInfo{CategoryBadURL, false, fmt.Sprintf("redirected (HTTP %d): check the URL", status), 0}
	case status == 429:
		return codeInfo{CategoryTransient, true, "throttled (HTTP 429)", 0}
	case status == 408 || status >= 500:
		return codeInfo{CategoryTransient, true, fmt.Sprintf("server error (HTTP %d)", status), 0}
	case status >= 400:
		return codeInfo{CategoryArguments, false, fmt.Sprintf("request rejected (HTTP %d)", status), 0}
	}
	return codeInfo{CategoryUnknown, false, fmt.Sprintf("unexpected answer (HTTP %d)", status), 0}
}

// safeToResend reports whether a failed submit provably billed nothing, so
// sending it again cannot charge twice.
func (e *APIError) safeToResend() bool {
	switch {
	case e.MaybeBilled:
		return false
	case e.Kind == KindTransport:
		return e.Category == CategoryTransient // only dial failures are marked so
	case e.Kind == KindGateway:
		return e.GatewayNumber() == "0308"
	case e.Kind == KindBusiness:
		return e.Code == 500 || e.Code == 501
	}
	return e.HTTPStatus == 429
}

// happened is what came of a request whose answer leaves open whether it
// was accepted.
type happened int

// What can happen to a request, for mayBill.
const (
	sentNoAnswer      happened = iota + 1 // sent, then no (complete) answer: timeout, reset, cancelled while waiting
	undecodable                           // a 2xx answer that cannot be read
	gatewayTimeout                        // APIG.0203, or a bare HTTP 504: the backend may have run it before the gateway gave up
	acceptedNoTaskID                      // code 200 but no taskId: nothing to poll
	acceptedBadStatus                     // code 200 with an HTTP error status: the body says accepted
	unknownCode                           // an undocumented business code: a definite, if unclear, refusal
)

// mayBill is the one table of "may this have billed?": what happened to a
// submit, and whether it may have been accepted and charged. A query never
// bills. Whatever is not here billed nothing: a business or gateway answer
// is definite, and a request that never left cannot have been charged.
var mayBill = map[happened]bool{
	sentNoAnswer:      true,
	undecodable:       true,
	gatewayTimeout:    true,
	acceptedNoTaskID:  true,
	acceptedBadStatus: true,
	unknownCode:       false,
}

// mayHaveBilled reads mayBill for an op.
func mayHaveBilled(op Op, what happened) bool {
	return op == OpSubmit && mayBill[what]
}

// settle marks e as a request that may have billed, of category uncertain,
// when mayHaveBilled says so for what happened, and reports whether it did.
func (e *APIError) settle(what happened) bool {
	if !mayHaveBilled(e.Op, what) {
		return false
	}
	e.MaybeBilled, e.Category = true, CategoryUncertain
	return true
}
