package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	mrand "math/rand/v2"
	"net/http"
	"strings"

	"aipaint-mcp/client"
)

// HeaderRequestID carries the gateway's id of each answer.
const HeaderRequestID = "X-Request-Id"

// businessMsgs are the upstream's default messages per business code.
var businessMsgs = map[int]string{
	200: "成功",
	201: "taskId不存在",
	202: "文本被拦截",
	400: "参数错误",
	500: "服务商维护，请稍候再试",
	501: "官方数据源维护，请稍候再试",
	999: "其他错误",
}

type gatewayBody struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

type businessBody struct {
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
	TaskNo string `json:"taskNo"`
	Data   any    `json:"data,omitempty"`
}

// WriteGateway answers as the APIG gateway. code may be "0308", "APIG.0308"
// or "APIGW.0308"; status 0 and msg "" take the table's values.
func (s *Sandbox) WriteGateway(w http.ResponseWriter, code string, status int, msg string) {
	if !strings.Contains(code, ".") {
		code = "APIG." + code
	}
	_, num, _ := strings.Cut(code, ".")
	defStatus, defMsg, known := client.GatewayCode(num)
	if !known {
		defStatus, defMsg = http.StatusInternalServerError, "internal error"
	}
	if status == 0 {
		status = defStatus
	}
	if msg == "" {
		msg = defMsg
	}
	id := w.Header().Get(HeaderRequestID)
	s.log.Debug("sandbox gateway error", "code", code, "status", status, "request_id", id)
	writeJSON(w, status, gatewayBody{ErrorCode: code, ErrorMsg: msg, RequestID: id})
}

// WriteBusiness answers as the backend; msg "" takes the code's default.
func (s *Sandbox) WriteBusiness(w http.ResponseWriter, status, code int, msg string, data any) {
	if msg == "" {
		msg = businessMsgs[code]
	}
	taskNo := randomDigits(24)
	s.log.Debug("sandbox answer", "code", code, "status", status, "task_no", taskNo,
		"request_id", w.Header().Get(HeaderRequestID))
	writeJSON(w, status, businessBody{Code: code, Msg: msg, TaskNo: taskNo, Data: data})
}

// paramError is the upstream's answer to an invalid parameter.
func (s *Sandbox) paramError(w http.ResponseWriter, what string) {
	s.WriteBusiness(w, http.StatusOK, 400, businessMsgs[400]+": "+what, nil)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	// The values are plain structs and maps: encoding cannot fail, and a
	// write error means the client has gone.
	_ = json.NewEncoder(w).Encode(v)
}

func newRequestID() string { return randomHex(16) }

func newTaskID() string { return "sbx" + randomHex(10) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + mrand.IntN(10))
	}
	return string(b)
}
