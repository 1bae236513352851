//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"

	"aipaint-mcp/config"
)

// Only in binaries built with -tags pprof (the bench command builds one):
// net/http/pprof on AIPAINT_PPROF_ADDR, a loopback address, to profile the
// running server. Release builds have none of this.
func init() {
	addr := os.Getenv("AIPAINT_PPROF_ADDR")
	if addr == "" {
		return
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !config.IsLoopbackHost(host) {
		fmt.Fprintln(os.Stderr, "AIPAINT_PPROF_ADDR: want a loopback host:port")
		return
	}
	go func() {
		// Its own server: the MCP mux never serves the profiles.
		if err := http.ListenAndServe(addr, http.DefaultServeMux); err != nil {
			fmt.Fprintln(os.Stderr, "pprof:", err)
		}
	}()
}
