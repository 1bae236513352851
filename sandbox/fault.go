package sandbox

import (
	"net/http"
	"sync"
)

// Op names one of the two APIs, for FailNext.
type Op string

// The operations that faults can be queued for.
const (
	OpSubmit Op = "submit"
	OpQuery  Op = "query"
)

// Fault is one scripted bad answer. The first field set wins, in this order:
// Raw, Gateway, Business; a Fault with none of them answers business 999.
type Fault struct {
	Business     int    // business code to answer (201, 202, 400, 500, 501, 999)
	MirrorStatus bool   // also use Business as the HTTP status (otherwise HTTP 200)
	Gateway      string // gateway code such as "APIG.0308", with its HTTP status from the table
	Status       int    // HTTP status override, for any kind (Raw defaults to 200)
	Raw          []byte // answer exactly these bytes (garbage, HTML, truncated JSON)
	ContentType  string // Content-Type for Raw; "" sniffs it from the bytes
	Msg          string // message instead of the code's default
}

// FailNext queues f for op: it answers exactly one later request of that op
// (queued faults are used first in, first out), then normal behaviour
// resumes. A fault is taken after authentication (an unauthenticated request
// gets 0303 and leaves the queue alone) and before the parameters are read
// (an invalid request still takes it). A faulted request never bills and
// never creates a task.
func (s *Sandbox) FailNext(op Op, f Fault) { s.faults.push(op, f) }

type faultQueue struct {
	mu     sync.Mutex
	queued map[Op][]Fault
}

func (q *faultQueue) push(op Op, f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued == nil {
		q.queued = map[Op][]Fault{}
	}
	q.queued[op] = append(q.queued[op], f)
}

func (q *faultQueue) pop(op Op) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	fs := q.queued[op]
	if len(fs) == 0 {
		return Fault{}, false
	}
	q.queued[op] = fs[1:]
	return fs[0], true
}

func (s *Sandbox) writeFault(w http.ResponseWriter, f Fault) {
	switch {
	case f.Raw != nil:
		s.writeRaw(w, f)
	case f.Gateway != "":
		s.writeGateway(w, f.Gateway, f.Status, f.Msg)
	default:
		s.writeBusiness(w, faultStatus(f), faultCode(f), f.Msg, nil)
	}
}

func faultCode(f Fault) int {
	if f.Business == 0 {
		return 999
	}
	return f.Business
}

func faultStatus(f Fault) int {
	switch {
	case f.Status != 0:
		return f.Status
	case f.MirrorStatus:
		return faultCode(f)
	default:
		return http.StatusOK
	}
}

func (s *Sandbox) writeRaw(w http.ResponseWriter, f Fault) {
	ct := f.ContentType
	if ct == "" {
		ct = http.DetectContentType(f.Raw)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	s.log.Debug("sandbox raw fault", "status", status, "bytes", len(f.Raw))
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(f.Raw)
}
