// Package soak holds the fault soak test: many concurrent generate_image and
// check_task calls over streamable HTTP against a sandbox that fails a share
// of requests at random. It has no code of its own; run it with
//
//	go test -v -run TestSoak ./soak                       # the CI size
//	go test -v -run TestSoak ./soak -args -soak.calls=2000 -soak.workers=32
package soak
