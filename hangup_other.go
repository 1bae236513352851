//go:build !unix

package main

import "os"

// hangupSignals: no SIGHUP here (Windows); the tokens file is re-read when
// it changes, which the watcher checks every minute.
func hangupSignals() (hangup <-chan os.Signal, unwatch func()) {
	return nil, func() {}
}
