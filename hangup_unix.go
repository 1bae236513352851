//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// hangupSignals delivers SIGHUP, which re-reads the tokens file (as daemons
// re-read their configuration) instead of ending the process, until unwatch.
func hangupSignals() (hangup <-chan os.Signal, unwatch func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}
