package schema

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"
)

// The tools' schemas come from reflection on the argument and result types
// (invopop), but reflecting and encoding them took 0.7 ms of every start,
// before initialize could be answered. wire/ holds them as reflection
// encodes them, for the default limits; the functions below serve those
// bytes and reflect only for other limits. TestWireSchemas checks that the
// files are what reflection gives (go test ./schema -update rewrites them).
// After changing a schema's Go type, `go test ./schema ./tools -update`
// needs a second run: the first rewrites wire/, which the tools' tools/list
// snapshot sees only once it is embedded anew.
//
//go:embed wire/*.json
var wire embed.FS

// wireLimits are the limits wire/ was generated for: the defaults of
// AIPAINT_MAX_WAIT_SECONDS and AIPAINT_MAX_IMAGES_PER_CALL.
var wireLimits = Limits{MaxWaitSeconds: 50, MaxNum: MaxNum}

// fromWire is a schema from wire/: a copy, the caller may keep it.
func fromWire(name string) json.RawMessage {
	b, err := wire.ReadFile("wire/" + name)
	if err != nil {
		panic("schema: " + err.Error()) // only a missing file can get here, and every test would
	}
	return b
}

// wireFits reports whether lim gives the schemas of wireLimits: only the
// wait cap and the number of images appear in them.
func wireFits(lim Limits) bool {
	return lim.MaxWaitSeconds == wireLimits.MaxWaitSeconds && lim.maxNum() == wireLimits.maxNum()
}

func reflectSchema(v any) *jsonschema.Schema {
	r := jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true}
	s := r.Reflect(v)
	s.Version = ""
	s.ID = ""
	return s
}

func mustJSON(s *jsonschema.Schema) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		panic("schema: marshal: " + err.Error()) // only a programming error can get here
	}
	return b
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func capWait(s *jsonschema.Schema, lim Limits) {
	if p, ok := s.Properties.Get("wait_seconds"); ok && lim.MaxWaitSeconds > 0 {
		capped := json.Number(strconv.Itoa(lim.MaxWaitSeconds))
		p.Maximum = capped
		// A default above the maximum would make the schema contradict itself;
		// normalisation lowers the default to the cap, so say so here too.
		if d, ok := p.Default.(json.Number); ok {
			if n, err := d.Int64(); err == nil && n > int64(lim.MaxWaitSeconds) {
				p.Default = capped
				p.Description = strings.Replace(p.Description, "(default "+d.String()+")", "(default "+capped.String()+")", 1)
			}
		}
		p.Description += " Capped at " + strconv.Itoa(lim.MaxWaitSeconds) + " seconds."
	}
}

// GenerateInputSchema is generate_image's input schema; style and resolution
// enums come from the tables, the wait cap from the configuration.
func GenerateInputSchema(lim Limits) json.RawMessage {
	if wireFits(lim) {
		return fromWire("generate_input.json")
	}
	return reflectGenerateInput(lim)
}

func reflectGenerateInput(lim Limits) json.RawMessage {
	s := reflectSchema(&GenerateArgs{})
	if p, ok := s.Properties.Get("style"); ok {
		p.Enum = anySlice(StyleNames())
		p.Default = DefaultStyle().Name
	}
	if p, ok := s.Properties.Get("resolution"); ok {
		p.Enum = anySlice(ResolutionValues())
		p.Default = DefaultResolution().Value
	}
	capWait(s, lim)
	if p, ok := s.Properties.Get("num"); ok && lim.maxNum() < MaxNum {
		p.Maximum = json.Number(strconv.Itoa(lim.maxNum()))
		p.Description = strings.Replace(p.Description, fmt.Sprintf("1-%d", MaxNum), fmt.Sprintf("1-%d", lim.maxNum()), 1)
	}
	return mustJSON(s)
}

// CheckInputSchema is check_task's input schema.
func CheckInputSchema(lim Limits) json.RawMessage {
	if wireFits(lim) {
		return fromWire("check_input.json")
	}
	return reflectCheckInput(lim)
}

func reflectCheckInput(lim Limits) json.RawMessage {
	s := reflectSchema(&CheckArgs{})
	capWait(s, lim)
	return mustJSON(s)
}

// NoInputSchema is the input schema of a tool without arguments.
func NoInputSchema() json.RawMessage { return fromWire("none_input.json") }

// TaskOutputSchema is the output schema of generate_image and check_task.
func TaskOutputSchema() json.RawMessage { return fromWire("task_output.json") }

// StylesOutputSchema is the output schema of list_styles.
func StylesOutputSchema() json.RawMessage { return fromWire("styles_output.json") }

// reflected are the schemas by reflection, by their file names in wire/,
// for the limits given.
func reflected(lim Limits) map[string]json.RawMessage {
	return map[string]json.RawMessage{
		"generate_input.json": reflectGenerateInput(lim),
		"check_input.json":    reflectCheckInput(lim),
		"none_input.json":     mustJSON(reflectSchema(&ListStylesArgs{})),
		"task_output.json":    mustJSON(reflectSchema(&TaskResult{})),
		"styles_output.json":  mustJSON(reflectSchema(&StylesResult{})),
	}
}
