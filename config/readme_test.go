package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration table in
// step with the Settings table.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, s := range Settings {
		row := "| `" + s.Name + "` | "
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no table row for %s", s.Name)
			continue
		}
		if s.Default != "" && !strings.Contains(readme, row+"`"+s.Default+"` |") {
			t.Errorf("README.md gives %s a default other than %q", s.Name, s.Default)
		}
	}
}
