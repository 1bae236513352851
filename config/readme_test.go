package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the configuration tables of both
// READMEs in step with the Settings table.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		readme := string(raw)
		for _, s := range Settings {
			row := "| `" + s.Name + "` | "
			if !strings.Contains(readme, row) {
				t.Errorf("%s has no table row for %s", file, s.Name)
				continue
			}
			if s.Default != "" && !strings.Contains(readme, row+"`"+s.Default+"` |") {
				t.Errorf("%s gives %s a default other than %q", file, s.Name, s.Default)
			}
		}
	}
}
