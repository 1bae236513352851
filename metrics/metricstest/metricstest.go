// Package metricstest reads a /metrics page the way Prometheus's own
// client does: with Debian's python3-prometheus-client
// (text_string_to_metric_families), not a regexp. Only tests import it.
package metricstest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Python is Debian's interpreter, which has the python3-prometheus-client
// package (a python3 of pyenv or a virtualenv first on PATH may not).
const Python = "/usr/bin/python3"

// Sample is one line of a family: its name (a histogram's has _bucket,
// _sum or _count; a counter's _total), labels and value.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"-"`
	Raw    string            `json:"value"` // Python's repr of Value: NaN and infinities are not JSON numbers
}

// Family is a metric as the parser sees it: its name (without a counter's
// _total), type (counter, gauge, histogram; "unknown" when untyped), help
// text and samples.
type Family struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Help    string   `json:"help"`
	Samples []Sample `json:"samples"`
}

// Families is a parsed page, by family name.
type Families map[string]Family

const parse = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": repr(s.value)} for s in f.samples]})
json.dump(out, sys.stdout)
`

// Parse parses text, failing t when the parser rejects it. Without the
// parser it skips t, and fails it when CI=true.
func Parse(t testing.TB, text string) Families {
	t.Helper()
	if err := exec.Command(Python, "-c", "import prometheus_client").Run(); err != nil {
		msg := "parsing /metrics needs Debian's python3-prometheus-client: apt-get install python3-prometheus-client (.ci/run installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(Python, "-c", parse)
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the page: %v\n%s\npage:\n%s", err, stderr.String(), text)
	}
	var list []Family
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("parser output: %v", err)
	}
	fams := Families{}
	for _, f := range list {
		for i, s := range f.Samples {
			v, err := strconv.ParseFloat(s.Raw, 64)
			if err != nil {
				t.Fatalf("parser output: sample %s value %q: %v", s.Name, s.Raw, err)
			}
			f.Samples[i].Value = v
		}
		fams[f.Name] = f
	}
	return fams
}

// Sum adds the values of the samples called name whose labels include
// every pair of match.
func (fs Families) Sum(family, name string, match map[string]string) float64 {
	var sum float64
	for _, s := range fs.Find(family, name, match) {
		sum += s.Value
	}
	return sum
}

// Find reports the samples called name whose labels include every pair of
// match.
func (fs Families) Find(family, name string, match map[string]string) []Sample {
	var found []Sample
	for _, s := range fs[family].Samples {
		if s.Name == name && includes(s.Labels, match) {
			found = append(found, s)
		}
	}
	return found
}

func includes(labels, match map[string]string) bool {
	for k, v := range match {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
