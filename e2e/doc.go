// Package e2e holds the end-to-end tests: they build the aipaint-mcp binary
// and drive it over stdio, SSE and streamable HTTP with the official MCP Go
// SDK (github.com/modelcontextprotocol/go-sdk) as an independent client,
// against the embedded sandbox upstream. The tests import none of the
// server's packages: the binary is a black box.
//
// Run them with: go test -race -count=1 ./e2e/
package e2e
