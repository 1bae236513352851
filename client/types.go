// Package client is the upstream API's client: it talks to the 聚美智数 AI
// painting API behind Huawei Cloud APIG, submit and query over HTTP (signed
// by package signer), decoding, retries and typed errors. Waiting for a task
// is package wait's. It knows nothing about MCP: the folder keeps the name
// the project's design gives it, and everywhere else in this module
// "upstream" means this API and "client" an MCP client.
package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Op names one of the API's two operations.
type Op string

// The operations.
const (
	OpSubmit Op = "submit" // paid: may bill
	OpQuery  Op = "query"  // free: reads a task's state
)

// Format is the request body encoding.
type Format string

// Body encodings.
const (
	FormatForm Format = "form"
	FormatJSON Format = "json"
)

// Request is one paid generation request, the one shape it has from the
// tool's arguments to the upstream: what the submit sends, with canonical
// values (the schema package validates them; this package does not), and
// what the task store keeps of it (the JSON names are the task file's).
type Request struct {
	Text       string `json:"text,omitempty"`
	Style      string `json:"style,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	Num        int    `json:"num,omitempty"`
}

// Key identifies identical requests, for deduplication.
func (r Request) Key() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%q|%q|%q|%d", r.Text, r.Style, r.Resolution, r.Num)))
	return hex.EncodeToString(sum[:16])
}

// SubmitResult is an accepted submit.
type SubmitResult struct {
	TaskID string
	TaskNo string
}

// Task is the state of a task as the query interface reports it.
type Task struct {
	TaskID    string
	TaskNo    string
	Done      bool     // status 1
	Images    []string // image URLs, in order
	CreatedAt time.Time
}

// ChinaTime is the zone of the API's createTime strings; a fixed zone avoids
// depending on the tz database.
var ChinaTime = time.FixedZone("CST", 8*3600)

// CreateTimeLayout is the format of createTime: China time, no zone.
const CreateTimeLayout = "2006-01-02 15:04:05"
