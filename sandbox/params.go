package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// MaxBody is the gateway's body size limit.
const MaxBody = 64 << 10

// Op names one of the two APIs.
type Op string

// The two APIs.
const (
	OpSubmit Op = "submit"
	OpQuery  Op = "query"
)

// params are the parameters of one API call, all strings as on the wire.
type params map[string]string

// api wraps an API handler with what every call goes through, in the
// gateway's order: body limit, authentication, then (past the gateway) the
// parameters. A front may answer an authenticated request in the sandbox's
// place (the tests' fault injection, sandboxtest.Faults): see Authentic and
// AnsweredInstead.
func (s *Sandbox) api(op Op, h func(http.ResponseWriter, *http.Request, params)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			s.bodyError(w, err)
			return
		}
		if msg := s.authenticate(r, body); msg != "" {
			s.stats.authFailures.Add(1)
			s.log.Info("sandbox auth failure", "op", op, "request_id", w.Header().Get(HeaderRequestID))
			s.WriteGateway(w, "APIG.0303", 0, msg)
			return
		}
		p, err := parseParams(r.Header.Get("Content-Type"), body)
		s.count(op, p)
		if err != nil {
			s.paramError(w, err.Error())
			return
		}
		h(w, r, p)
	}
}

// count counts an authenticated API request; it returns a submit's key.
func (s *Sandbox) count(op Op, p params) (key string) {
	switch op {
	case OpQuery:
		s.stats.queries.Add(1)
	case OpSubmit:
		s.stats.submitRequests.Add(1)
		if key = submitKey(p); s.mayBeBilled(key) {
			s.stats.repeated.Add(1)
			s.log.Warn("sandbox: a submit was sent again after an answer that may have billed it")
		}
	}
	return key
}

// Authentic reports whether the gateway lets an API request with this body
// through: a front answers only those in the sandbox's place.
func (s *Sandbox) Authentic(r *http.Request, body []byte) bool {
	return s.authenticate(r, body) == ""
}

// AnsweredInstead records an authenticated API request that a front
// answered in the sandbox's place, counting it as the sandbox counts those
// it answers. mayHaveBilled: the answer left the caller unsure whether a
// submit was billed (a timeout, a dropped connection, an unreadable
// answer), so sending it again counts as a RepeatedSubmit.
func (s *Sandbox) AnsweredInstead(op Op, r *http.Request, body []byte, mayHaveBilled bool) {
	p, _ := parseParams(r.Header.Get("Content-Type"), body)
	if key := s.count(op, p); mayHaveBilled {
		s.markBillable(key)
	}
}

func (s *Sandbox) bodyError(w http.ResponseWriter, err error) {
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		s.WriteGateway(w, "APIG.0201", http.StatusRequestEntityTooLarge, "Request entity too large")
		return
	}
	s.WriteGateway(w, "APIG.0201", 0, "Bad request: cannot read body")
}

// parseParams decodes a form or JSON body. In JSON, values are strings;
// num may also be a number.
func parseParams(contentType string, body []byte) (params, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("不支持的Content-Type %q", contentType)
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		return parseForm(body)
	case "application/json":
		return parseJSON(body)
	default:
		return nil, fmt.Errorf("不支持的Content-Type %q", mediaType)
	}
}

func parseForm(body []byte) (params, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("请求体不是合法的表单")
	}
	p := params{}
	for k := range v {
		p[k] = v.Get(k)
	}
	return p, nil
}

func parseJSON(body []byte) (params, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.New("请求体不是合法的JSON对象")
	}
	p := params{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			p[k] = v
		case json.Number:
			if k != "num" {
				return nil, fmt.Errorf("%s必须是字符串", k)
			}
			p[k] = v.String()
		default:
			return nil, fmt.Errorf("%s必须是字符串", k)
		}
	}
	return p, nil
}
