package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"aipaint-mcp/paint"
)

const deployDir = "../docs/deploy"

// TestDeployExamplesUseRealSettings keeps every AIPAINT_ name in the
// deployment examples in step with the Settings table, as the README tests do.
func TestDeployExamplesUseRealSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range Settings {
		known[s.Name] = true
	}
	files, err := filepath.Glob(filepath.Join(deployDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s (%v)", deployDir, err)
	}
	name := regexp.MustCompile(`AIPAINT_[A-Z0-9_]+`)
	seen := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range name.FindAllString(string(raw), -1) {
			seen++
			if !known[n] {
				t.Errorf("%s names %s, which is not a setting (config.Settings)", filepath.Base(f), n)
			}
		}
	}
	if seen == 0 {
		t.Fatal("the deployment examples name no AIPAINT_ setting: the check would pass on anything")
	}
}

// k8sObject is the part of a Kubernetes object the checks below read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsUser int `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []struct {
					Image string `yaml:"image"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					Env []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					EnvFrom []struct {
						SecretRef struct {
							Name string `yaml:"name"`
						} `yaml:"secretRef"`
					} `yaml:"envFrom"`
					ReadinessProbe struct {
						HTTPGet struct {
							Path string `yaml:"path"`
							Port any    `yaml:"port"`
						} `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetesExampleDrainsEveryCall reads docs/deploy/kubernetes.yaml as
// Kubernetes would and checks what the README promises of it: two replicas,
// readiness on /healthz, the metrics port annotated, the image's user, and a
// termination grace longer than the server's own stop (its grace and the
// longest a call may take).
func TestKubernetesExampleDrainsEveryCall(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var deployment *k8sObject
	secrets := map[string]map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		switch o.Kind {
		case "Deployment":
			deployment = &o
		case "Secret":
			secrets[o.Metadata.Name] = o.StringData
		}
	}
	if deployment == nil {
		t.Fatal("kubernetes.yaml has no Deployment")
	}
	pod := deployment.Spec.Template.Spec
	if deployment.Spec.Replicas < 2 {
		t.Errorf("replicas = %d, want at least 2", deployment.Spec.Replicas)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe path %q, want /healthz", c.ReadinessProbe.HTTPGet.Path)
	}
	if pod.SecurityContext.RunAsUser != 65532 {
		t.Errorf("runAsUser %d, want the image's 65532", pod.SecurityContext.RunAsUser)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["mcp"] != 8000 {
		t.Errorf("mcp port %d, want the image's 8000", ports["mcp"])
	}

	// envFrom puts every key of a Secret into the environment: only
	// settings belong in one (the tokens file is mounted from another).
	for _, from := range c.EnvFrom {
		keys, ok := secrets[from.SecretRef.Name]
		if !ok {
			t.Errorf("envFrom names Secret %q, which kubernetes.yaml does not have", from.SecretRef.Name)
		}
		for k := range keys {
			if !slices.ContainsFunc(Settings, func(s Setting) bool { return s.Name == k }) {
				t.Errorf("Secret %q, imported with envFrom, has key %q: not a setting, yet it lands in the environment", from.SecretRef.Name, k)
			}
		}
	}

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	setting := func(name string) string {
		if v, ok := env[name]; ok {
			return v
		}
		for _, s := range Settings {
			if s.Name == name {
				return s.Default
			}
		}
		t.Fatalf("%s is not a setting", name)
		return ""
	}
	duration := func(name string) time.Duration {
		d, err := time.ParseDuration(setting(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return d
	}
	wait, err := strconv.Atoi(setting(MaxWaitSeconds))
	if err != nil {
		t.Fatal(err)
	}
	// The grace, then the calls in flight, each bounded as serve's stop
	// bounds it.
	stop := duration(ShutdownGrace) + paint.LongestCall(time.Duration(wait)*time.Second, duration(RequestTimeout))
	if got := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; got <= stop {
		t.Errorf("terminationGracePeriodSeconds %v is not above the server's longest stop %v", got, stop)
	}

	_, metricsPort, err := net.SplitHostPort(setting(MetricsAddr))
	if err != nil {
		t.Fatalf("%s: %v", MetricsAddr, err)
	}
	ann := deployment.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != metricsPort || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v do not point at %s's port %s and /metrics", ann, MetricsAddr, metricsPort)
	}
	if strconv.Itoa(ports["metrics"]) != metricsPort {
		t.Errorf("metrics container port %d, want %s", ports["metrics"], metricsPort)
	}
}

// TestPrometheusExamplesLoad checks and tests the alerts with Prometheus's own promtool
// (Debian's prometheus package). Debian's build lacks Kubernetes service
// discovery, so "promtool check config" cannot read prometheus.yml there;
// TestScrapeExampleFindsThePods reads it instead.
func TestPrometheusExamplesLoad(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: .ci/run installs Debian's prometheus package")
		}
		t.Skip("promtool not found: apt-get install prometheus, then go test ./config")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		// alerts_test.yml: each alert fires on the series it is for, and
		// stays quiet on the ones it is not.
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = deployDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestScrapeExampleFindsThePods: prometheus.yml loads the alerts file and
// keeps the pods kubernetes.yaml labels and annotates.
func TestScrapeExampleFindsThePods(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				Action       string   `yaml:"action"`
				Regex        string   `yaml:"regex"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	for _, f := range cfg.RuleFiles {
		if _, err := os.Stat(filepath.Join(deployDir, f)); err != nil {
			t.Errorf("rule file %s: %v", f, err)
		}
	}
	keeps := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, rc := range sc.RelabelConfigs {
			if rc.Action == "keep" && len(rc.SourceLabels) == 1 {
				keeps[rc.SourceLabels[0]] = rc.Regex
			}
		}
	}
	if keeps["__meta_kubernetes_pod_label_app"] != "aipaint-mcp" || keeps["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] != "true" {
		t.Errorf("prometheus.yml does not keep the pods of kubernetes.yaml (app=aipaint-mcp, prometheus.io/scrape=true): %v", keeps)
	}
}

// TestREADMEGivesTheStopOfTheDefaults keeps the figure of the READMEs'
// rolling-update advice (the grace plus the longest call, with the default
// settings) in step with what serve waits for.
func TestREADMEGivesTheStopOfTheDefaults(t *testing.T) {
	def := map[string]string{}
	for _, s := range Settings {
		def[s.Name] = s.Default
	}
	wait, err := strconv.Atoi(def[MaxWaitSeconds])
	if err != nil {
		t.Fatal(err)
	}
	grace, err1 := time.ParseDuration(def[ShutdownGrace])
	timeout, err2 := time.ParseDuration(def[RequestTimeout])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	secs := int((grace + paint.LongestCall(time.Duration(wait)*time.Second, timeout)).Seconds())
	for file, phrase := range map[string]string{
		"../README.md":       fmt.Sprintf("%d s with the defaults", secs),
		"../README.zh-CN.md": fmt.Sprintf("默认设置下为 %d 秒", secs),
	} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), phrase) {
			t.Errorf("%s does not say %q", file, phrase)
		}
	}
}
