package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/macho"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
)

var testTime = time.Date(2026, 11, 27, 12, 14, 48, 0, time.UTC)

// testRelease is stamped from the real VERSION file, so a manifest that
// disagrees with it fails here.
func testRelease(t *testing.T) release {
	t.Helper()
	raw, err := os.ReadFile("../VERSION")
	require.NoError(t, err)
	v := strings.TrimSpace(string(raw))
	require.True(t, validVersion(v), "VERSION %q", v)
	return release{
		Version: v, Commit: "abc1234", Revision: "abc1234" + strings.Repeat("0", 33), CommitTime: testTime,
		RegistryName: defaultRegistryName, Repository: defaultRepository,
		DownloadBase: strings.ReplaceAll(defaultDownloadBase, "{version}", v), Image: defaultImage,
	}
}

// thinMachO is a minimal 64-bit Mach-O: a header with no load commands, then payload.
func thinMachO(cpu macho.Cpu, sub uint32, payload string) []byte {
	var b []byte
	le := binary.LittleEndian
	b = le.AppendUint32(b, macho.Magic64)
	b = le.AppendUint32(b, uint32(cpu))
	b = le.AppendUint32(b, sub)
	b = le.AppendUint32(b, uint32(macho.TypeExec))
	b = le.AppendUint32(b, 0) // ncmd
	b = le.AppendUint32(b, 0) // sizeofcmds
	b = le.AppendUint32(b, 0) // flags
	b = le.AppendUint32(b, 0) // reserved
	return append(b, payload...)
}

func TestFatMachO(t *testing.T) {
	amd := thinMachO(macho.CpuAmd64, 3, strings.Repeat("x86", 7000)) // > 16 KiB: the second slice moves on
	arm := thinMachO(macho.CpuArm64, 0, "arm64 payload")
	fat, err := fatMachO([][]byte{amd, arm})
	require.NoError(t, err)

	assert.Equal(t, uint32(0xcafebabe), binary.BigEndian.Uint32(fat), "big-endian fat magic")
	ff, err := macho.NewFatFile(bytes.NewReader(fat))
	require.NoError(t, err)
	require.Len(t, ff.Arches, 2)
	want := []struct {
		cpu  macho.Cpu
		sub  uint32
		data []byte
	}{{macho.CpuAmd64, 3, amd}, {macho.CpuArm64, 0, arm}}
	for i, a := range ff.Arches {
		assert.Equal(t, want[i].cpu, a.Cpu)
		assert.Equal(t, want[i].sub, a.SubCpu)
		assert.Equal(t, uint32(fatAlign), a.Align)
		assert.Zero(t, a.Offset%(1<<fatAlign), "slice %d aligned to 16 KiB", i)
		assert.Equal(t, want[i].data, fat[a.Offset:a.Offset+a.Size])
	}
	assert.Equal(t, uint32(3*16384), ff.Arches[1].Offset, "16 KiB header page, 21 KB slice, next page")

	_, err = fatMachO([][]byte{amd, amd})
	assert.Error(t, err, "the same architecture twice")
	_, err = fatMachO([][]byte{[]byte("not a binary")})
	assert.Error(t, err)
}

var sample = []file{
	{Name: "README.md", Data: []byte("# hi\n"), Mode: 0o644},
	{Name: "aipaint-mcp", Data: bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 1000), Mode: 0o755},
	{Name: "docs/a.txt", Data: []byte("a"), Mode: 0o644},
}

func reversed(fs []file) []file {
	out := make([]file, len(fs))
	for i, f := range fs {
		out[len(fs)-1-i] = f
	}
	return out
}

func TestTarGzIsReproducible(t *testing.T) {
	a, err := tarGz("pkg_1/", sample, testTime)
	require.NoError(t, err)
	b, err := tarGz("pkg_1/", reversed(sample), testTime.In(time.FixedZone("CST", 8*3600)))
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same files in another order, the same instant in another zone: the same bytes")
	c, err := tarGz("pkg_1/", sample, testTime.Add(time.Second))
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "the time is in the bytes")

	zr, err := gzip.NewReader(bytes.NewReader(a))
	require.NoError(t, err)
	assert.Empty(t, zr.Name)
	assert.True(t, zr.ModTime.Equal(testTime))
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		assert.True(t, h.ModTime.Equal(testTime), h.Name)
		assert.Zero(t, h.Uid)
		assert.Zero(t, h.Gid)
		assert.Empty(t, h.Uname)
		switch {
		case h.Typeflag == tar.TypeDir:
			assert.Equal(t, int64(0o755), h.Mode, h.Name)
		case h.Name == "pkg_1/aipaint-mcp":
			assert.Equal(t, int64(0o755), h.Mode)
		default:
			assert.Equal(t, int64(0o644), h.Mode, h.Name)
		}
	}
	assert.Equal(t, []string{"pkg_1/", "pkg_1/docs/", "pkg_1/README.md", "pkg_1/aipaint-mcp", "pkg_1/docs/a.txt"}, names)

	// npm's layout: package/ prefix, no folder entries.
	n, err := tarGz("package/", sample, testTime)
	require.NoError(t, err)
	zr, err = gzip.NewReader(bytes.NewReader(n))
	require.NoError(t, err)
	tr = tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.Equal(t, byte(tar.TypeReg), h.Typeflag, h.Name)
		assert.True(t, strings.HasPrefix(h.Name, "package/"), h.Name)
	}
}

func TestZipKeepsModesAndIsReproducible(t *testing.T) {
	for _, prefix := range []string{"", "aipaint-mcp_1_windows_amd64/"} {
		a, err := zipFiles(prefix, sample, testTime)
		require.NoError(t, err)
		b, err := zipFiles(prefix, reversed(sample), testTime)
		require.NoError(t, err)
		assert.Equal(t, a, b)

		zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
		require.NoError(t, err)
		for _, f := range zr.File {
			assert.True(t, f.Modified.Equal(testTime), f.Name)
			if f.FileInfo().IsDir() {
				assert.NotEmpty(t, prefix, "no folder entries at the top level (mcpb unpack fails on them)")
				continue
			}
			want := os.FileMode(0o644)
			if strings.HasSuffix(f.Name, "aipaint-mcp") {
				want = 0o755
			}
			assert.Equal(t, want, f.Mode().Perm(), f.Name)
			assert.True(t, strings.HasPrefix(f.Name, prefix))
		}
	}
}

func TestIcon(t *testing.T) {
	b, err := drawIcon()
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, 512, img.Bounds().Dx())
	assert.Equal(t, 512, img.Bounds().Dy())
	_, _, _, a := img.At(0, 0).RGBA()
	assert.Zero(t, a, "the corners are transparent")
	_, _, _, a = img.At(256, 40).RGBA()
	assert.Equal(t, uint32(0xffff), a)
}

// fakeBins stands in for the compiled binaries.
func fakeBins() map[string][]byte {
	bins := map[string][]byte{"darwin_universal": []byte("fat")}
	for _, tg := range targets {
		bins[tg.String()] = []byte("bin " + tg.String())
	}
	return bins
}

func TestEveryManifestIsStampedFromVERSION(t *testing.T) {
	rel := testRelease(t)

	var m struct {
		ManifestVersion string `json:"manifest_version"`
		Version         string `json:"version"`
		Server          struct {
			Type       string `json:"type"`
			EntryPoint string `json:"entry_point"`
			MCPConfig  struct {
				Command   string                       `json:"command"`
				Args      []string                     `json:"args"`
				Env       map[string]string            `json:"env"`
				Overrides map[string]map[string]string `json:"platform_overrides"`
			} `json:"mcp_config"`
		} `json:"server"`
		Compatibility struct {
			Platforms []string `json:"platforms"`
		} `json:"compatibility"`
		UserConfig map[string]struct {
			Type      string `json:"type"`
			Required  bool   `json:"required"`
			Sensitive bool   `json:"sensitive"`
			Default   any    `json:"default"`
		} `json:"user_config"`
		Tools []struct{ Name string } `json:"tools"`
	}
	raw, err := mcpbManifest(rel)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, "0.3", m.ManifestVersion)
	assert.Equal(t, rel.Version, m.Version, "bundle manifest")
	assert.Equal(t, "binary", m.Server.Type)
	assert.NotNil(t, m.Server.MCPConfig.Args)
	assert.Empty(t, m.Server.MCPConfig.Args)
	assert.Equal(t, "${__dirname}/server/aipaint-mcp-darwin", m.Server.MCPConfig.Overrides["darwin"]["command"])
	assert.Equal(t, "${__dirname}/server/aipaint-mcp.exe", m.Server.MCPConfig.Overrides["win32"]["command"])
	assert.Equal(t, "${__dirname}/server/aipaint-mcp", m.Server.MCPConfig.Overrides["linux"]["command"])
	assert.ElementsMatch(t, []string{"darwin", "win32", "linux"}, m.Compatibility.Platforms)
	var tools []string
	for _, tl := range m.Tools {
		tools = append(tools, tl.Name)
	}
	assert.ElementsMatch(t, []string{"generate_image", "check_task", "list_styles"}, tools)

	// Every form field sets its AIPAINT_ variable, agrees with config on
	// what is secret, and has a default when optional.
	known := map[string]config.Setting{}
	for _, s := range config.Settings {
		known[s.Name] = s
	}
	require.Len(t, m.UserConfig, len(userSettings))
	for _, s := range userSettings {
		cs, ok := known[s.Env]
		require.True(t, ok, "%s is not a config setting", s.Env)
		assert.Equal(t, cs.Secret, s.Sensitive, "%s: sensitive in the bundle = secret in config", s.Env)
		assert.Equal(t, "${user_config."+s.Key+"}", m.Server.MCPConfig.Env[s.Env])
		f := m.UserConfig[s.Key]
		if !f.Required {
			assert.NotNil(t, f.Default, "%s: an optional field has a default", s.Key)
		}
	}
	assert.True(t, m.UserConfig["app_secret"].Sensitive)
	assert.True(t, m.UserConfig["app_code"].Sensitive)
	assert.Equal(t, "directory", m.UserConfig["output_dir"].Type)
	assert.Equal(t, "boolean", m.UserConfig["sandbox"].Type)
	assert.Equal(t, false, m.UserConfig["sandbox"].Default)

	// npm: every package at VERSION, the platform packages pinned exactly.
	pkgs := npmPackages(rel, fakeBins(), []byte("# readme"))
	require.Len(t, pkgs, 1+len(targets))
	for _, p := range pkgs {
		var pj struct {
			Name     string            `json:"name"`
			Version  string            `json:"version"`
			MCPName  string            `json:"mcpName"`
			Bin      map[string]string `json:"bin"`
			Files    []string          `json:"files"`
			OS       []string          `json:"os"`
			CPU      []string          `json:"cpu"`
			Optional map[string]string `json:"optionalDependencies"`
			Scripts  map[string]string `json:"scripts"`
		}
		require.NoError(t, json.Unmarshal(p.Files[0].Data, &pj), p.Name)
		assert.Equal(t, p.Name, pj.Name)
		assert.Equal(t, rel.Version, pj.Version, p.Name)
		assert.Empty(t, pj.Scripts, "%s: no install scripts (Bun does not run them)", p.Name)
		if p.Name == "aipaint-mcp" {
			assert.Equal(t, rel.RegistryName, pj.MCPName)
			assert.Equal(t, "bin/aipaint-mcp.js", pj.Bin["aipaint-mcp"])
			assert.Len(t, pj.Optional, len(targets))
			for name, v := range pj.Optional {
				assert.Equal(t, rel.Version, v, name)
			}
			continue
		}
		assert.Regexp(t, `^aipaint-mcp-(linux|darwin|win32)-(x64|arm64)$`, pj.Name)
		require.Len(t, pj.OS, 1)
		require.Len(t, pj.CPU, 1)
		assert.Equal(t, "aipaint-mcp-"+pj.OS[0]+"-"+pj.CPU[0], pj.Name)
		require.Len(t, pj.Files, 1, "only the binary")
		assert.Equal(t, pj.Files[0], p.Files[1].Name)
		assert.Equal(t, os.FileMode(0o755), p.Files[1].Mode)
	}

	// The registry entry.
	var sj struct {
		Version  string `json:"version"`
		Packages []struct {
			RegistryType string `json:"registryType"`
			Identifier   string `json:"identifier"`
			Version      string `json:"version"`
			FileSHA256   string `json:"fileSha256"`
		} `json:"packages"`
	}
	raw, err = registryEntry(rel, strings.Repeat("ab", 32))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &sj))
	assert.Equal(t, rel.Version, sj.Version)
	require.Len(t, sj.Packages, 3)
	for _, p := range sj.Packages[:2] {
		assert.Equal(t, rel.Version, p.Version, p.RegistryType)
	}
	assert.Equal(t, "https://github.com/aipaint-mcp/aipaint-mcp/releases/download/v"+rel.Version+"/aipaint-mcp-"+rel.Version+".mcpb", sj.Packages[1].Identifier)
	assert.Equal(t, strings.Repeat("ab", 32), sj.Packages[1].FileSHA256)
	// The image: its version is its tag, and the registry refuses a version field on it.
	assert.Equal(t, "oci", sj.Packages[2].RegistryType)
	assert.Equal(t, "ghcr.io/aipaint-mcp/aipaint-mcp:"+rel.Version, sj.Packages[2].Identifier)
	assert.Empty(t, sj.Packages[2].Version)
	assert.Empty(t, sj.Packages[2].FileSHA256)
}

func TestLauncher(t *testing.T) {
	js := string(launcher)
	assert.Contains(t, js, "require.resolve(`${pkg}/bin/${exe}`)")
	assert.Contains(t, js, "aipaint-mcp-${process.platform}-${process.arch}")
	assert.NotRegexp(t, regexp.MustCompile(`console\.log|process\.stdout`), js, "stdout is the protocol")
	assert.True(t, strings.HasPrefix(js, "#!/usr/bin/env node\n"))
}

func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource(file, doc))
	sch, err := c.Compile(file)
	require.NoError(t, err)
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return sch.Validate(inst)
}

// TestServerJSONValidates checks server.json against the MCP Registry's
// schema 2025-12-11 (internal/validators/schemas/2025-12-11.json of
// github.com/modelcontextprotocol/registry v1.8.9).
func TestServerJSONValidates(t *testing.T) {
	sch := compileSchema(t, "server.schema.2025-12-11.json")
	rel := testRelease(t)
	raw, err := registryEntry(rel, strings.Repeat("0f", 32))
	require.NoError(t, err)
	assert.NoError(t, validate(t, sch, raw))
	assert.LessOrEqual(t, len([]rune(shortDescription)), 100)

	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	env := doc["packages"].([]any)[0].(map[string]any)["environmentVariables"].([]any)
	secrets := map[string]bool{}
	for _, e := range env {
		e := e.(map[string]any)
		secrets[e["name"].(string)] = e["isSecret"].(bool)
	}
	assert.Equal(t, map[string]bool{
		config.AppKey: false, config.AppSecret: true, config.AppCode: true, config.SubmitURL: false, config.QueryURL: false,
		config.DailyImageLimit: false, config.OutputDir: false, config.Sandbox: false,
	}, secrets)

	// The check can fail: a long description, a bad hash, a bad name.
	for _, bad := range []func(release) ([]byte, error){
		func(r release) ([]byte, error) {
			r.RegistryName = "no-slash"
			return registryEntry(r, strings.Repeat("0f", 32))
		},
		func(r release) ([]byte, error) { return registryEntry(r, "not-a-sha") },
	} {
		raw, err := bad(rel)
		require.NoError(t, err)
		assert.Error(t, validate(t, sch, raw))
	}
	long := strings.Replace(string(raw), shortDescription, strings.Repeat("长", 101), 1)
	assert.Error(t, validate(t, sch, []byte(long)))
}

// TestManifestValidates checks manifest.json against the MCP Bundle manifest
// 0.3 schema that @anthropic-ai/mcpb 2.1.2 ships (the CI runs mcpb validate too).
func TestManifestValidates(t *testing.T) {
	sch := compileSchema(t, "mcpb-manifest-v0.3.schema.json")
	raw, err := mcpbManifest(testRelease(t))
	require.NoError(t, err)
	assert.NoError(t, validate(t, sch, raw))
	bad := strings.Replace(string(raw), `"type": "directory"`, `"type": "folder"`, 1)
	assert.Error(t, validate(t, sch, []byte(bad)))
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"0.1.0": true, "1.22.333": true, "1.0.0-rc.1": true,
		"": false, "1.0": false, "v1.0.0": false, "01.0.0": false, "1.0.x": false,
	} {
		assert.Equal(t, ok, validVersion(v), v)
	}
}

func TestPrepareOutNeverEmptiesAFolderItDidNotMake(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	require.NoError(t, os.WriteFile(keep, []byte("mine"), 0o644))
	_, err := prepareOut(dir)
	assert.ErrorContains(t, err, "not made by dist")
	assert.FileExists(t, keep)

	out := filepath.Join(dir, "out")
	_, err = prepareOut(out)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, "old.tar.gz"), nil, 0o644))
	_, err = prepareOut(out)
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(out, "old.tar.gz"), "its own folder is emptied")
	assert.FileExists(t, filepath.Join(out, marker))
}

func TestReadReleaseSaysDirty(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-11-27T20:14:48+08:00", "GIT_AUTHOR_DATE=2026-11-27T20:14:48+08:00")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	git("init", "-q")
	write("VERSION", "1.2.3\n")
	write(".gitignore", "/out/\n")
	git("add", ".")
	git("commit", "-q", "-m", "one")

	rel, err := readRelease(dir)
	require.NoError(t, err)
	assert.Equal(t, "1.2.3", rel.Version)
	assert.Len(t, rel.Commit, 7)
	assert.True(t, rel.CommitTime.Equal(time.Date(2026, 11, 27, 12, 14, 48, 0, time.UTC)), "the commit's time, in UTC: %v", rel.CommitTime)
	assert.Equal(t, time.UTC, rel.CommitTime.Location())
	assert.False(t, rel.Dirty)

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "out"), 0o755))
	write("out/x", "ignored files don't count")
	rel, err = readRelease(dir)
	require.NoError(t, err)
	assert.False(t, rel.Dirty)

	write("new.go", "package x")
	rel, err = readRelease(dir)
	require.NoError(t, err)
	assert.True(t, rel.Dirty, "an untracked file makes the build dirty")

	write("VERSION", "1.2\n")
	_, err = readRelease(dir)
	assert.ErrorContains(t, err, "not a semantic version")
}

// user_config is the one object whose key order counts (Claude Desktop shows
// the form's fields in it): the keys come in userSettings' order.
func TestUserConfigKeepsTheFormsOrder(t *testing.T) {
	raw, err := mcpbManifest(testRelease(t))
	require.NoError(t, err)
	var m struct {
		UserConfig json.RawMessage `json:"user_config"`
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	dec := json.NewDecoder(bytes.NewReader(m.UserConfig))
	_, err = dec.Token() // {
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var field json.RawMessage
		require.NoError(t, dec.Decode(&field))
	}
	var want []string
	for _, s := range userSettings {
		want = append(want, s.Key)
	}
	assert.Equal(t, want, keys)
	assert.NotEqual(t, slices.Sorted(slices.Values(want)), want, "the form's order is not the sorted one a map would give")
}
