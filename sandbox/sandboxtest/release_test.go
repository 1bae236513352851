package sandboxtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The release binary holds the stand-in upstream but no test machinery:
// neither this package (the fault injector) nor what only tests use.
func TestReleaseBinaryLinksNoTestCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	// The module root, wherever the test runs from.
	out, err := exec.Command(goTool, "list", "-deps", "aipaint-mcp").Output()
	if err != nil {
		t.Fatalf("go list -deps aipaint-mcp: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "aipaint-mcp/sandbox") {
		t.Fatalf("the binary no longer links the sandbox: is this the right list?\n%s", out)
	}
	for _, banned := range []string{"aipaint-mcp/sandbox/sandboxtest", "testing", "net/http/httptest", "github.com/stretchr/testify/assert"} {
		if slices.Contains(deps, banned) {
			t.Errorf("the release binary links %s", banned)
		}
	}
}
