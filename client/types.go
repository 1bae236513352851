// Package client is the upstream API's client: it talks to the 聚美智数 AI
// painting API behind Huawei Cloud APIG, submit and query over HTTP (signed
// by package signer), decoding, retries and typed errors. Waiting for a task
// is package wait's. It knows nothing about MCP: the folder keeps the name
// the project's design gives it, and everywhere else in this module
// "upstream" means this API and "client" an MCP client.
package client

import "time"

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

// SubmitRequest is one paid generation request; values are canonical
// (this package does not validate them: the schema package does).
type SubmitRequest struct {
	Text       string
	Style      string
	Resolution string
	Num        int
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
