package schema

import (
	"bytes"
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
// encodes them for the default limits, indented: they are the golden files
// a reviewer reads, and the bytes the server serves (the JSON encoder
// compacts raw JSON as it writes each message, so they go out compact
// without a step at start). The functions below serve them, and reflect
// only for other limits. TestGoldenSchemas checks that the files are what
// reflection gives; `go test ./schema -update` rewrites them. After
// changing a schema's Go type, `go test ./schema ./tools -update` needs a
// second run: the first rewrites wire/, which the tools' tools/list
// snapshot sees only once it is embedded anew.
//
//go:embed wire/*.json
var wire embed.FS

// wireLimits are the limits wire/ was generated for: the defaults of
// AIPAINT_MAX_WAIT_SECONDS and AIPAINT_MAX_IMAGES_PER_CALL.
var wireLimits = Limits{MaxWaitSeconds: DefaultMaxWaitSeconds, MaxNum: MaxNum}

// fromWire is a schema from wire/, indented as the file is: a copy, the
// caller may keep it.
func fromWire(name string) json.RawMessage {
	b, err := wire.ReadFile("wire/" + name)
	if err != nil {
		panic("schema: " + err.Error()) // only a missing file can get here, and every test would
	}
	return bytes.TrimSuffix(b, []byte("\n"))
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

// arg is what an input schema says about one argument beyond its Go type.
type arg struct {
	description    string
	enum           []string
	def            any         // nil: no default
	min, max       json.Number // "": no bound
	minLen, maxLen uint64      // 0: no bound
}

func number(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// generateArgs and checkArgs are the one table of the tool arguments, keyed by
// property: the description a model reads next to the bounds and default it
// is held to. Counts, limits and defaults in the prose come from the style
// and resolution tables, the constants and the configured limits, the same
// values normalisation enforces, so the two cannot drift apart.
func generateArgs(lim Limits) map[string]arg {
	return map[string]arg{
		"text": {minLen: 1, maxLen: MaxTextChars,
			description: fmt.Sprintf("What to draw: a vivid description, at most %d characters (Chinese works best, e.g. 竹林里的熊猫，晨雾). Put the style in style, not here.", MaxTextChars)},
		"style": {enum: StyleNames(), def: DefaultStyle().Name,
			description: fmt.Sprintf("Painting style: one of the %d names (default %s). list_styles describes each look.", len(Styles), DefaultStyle().Name)},
		"resolution": {enum: ResolutionValues(), def: DefaultResolution().Value,
			description: "Image size width*height: " + resolutionChoices() + "."},
		"num": {min: number(MinNum), max: number(lim.maxNum()), def: number(DefaultNum),
			description: fmt.Sprintf("How many images, %d-%d. Each image is billed.", MinNum, lim.maxNum())},
		"wait": {def: DefaultWait,
			description: fmt.Sprintf("Wait for the images (default %t). false returns the task_id at once; then call check_task.", DefaultWait)},
		"wait_seconds": waitSecondsArg(lim, DefaultWaitSeconds, func(def int) string {
			return fmt.Sprintf("How long to wait for the images before returning a pending task_id (default %d).", def)
		}),
		"force_new": {def: DefaultForceNew,
			description: "An identical request (same text, style, resolution, num) made in the last few minutes returns that task instead of paying again. " +
				"true submits a new, billed request anyway: only when the user asks for new variations."},
		"preview": previewArg,
	}
}

func checkArgs(lim Limits) map[string]arg {
	return map[string]arg{
		"task_id": {minLen: 1, description: "The task_id that generate_image returned."},
		"wait_seconds": waitSecondsArg(lim, DefaultCheckWaitSeconds, func(def int) string {
			if def == 0 {
				return "Wait up to this many seconds for a pending task to finish (default 0: answer at once)."
			}
			return fmt.Sprintf("Wait up to this many seconds for a pending task to finish (default %d).", def)
		}),
		"preview": previewArg,
	}
}

var previewArg = arg{description: "Add small inline previews (at most 512 px) of the images to the result."}

// waitSecondsArg is wait_seconds with the default normalisation applies: a
// default above the configured cap is lowered to it, so the schema never
// contradicts itself.
func waitSecondsArg(lim Limits, def int, describe func(def int) string) arg {
	def = lim.CapWait(def)
	a := arg{min: number(0), def: number(def), description: describe(def)}
	if lim.MaxWaitSeconds > 0 {
		a.max = number(lim.MaxWaitSeconds)
		a.description += fmt.Sprintf(" Capped at %d seconds.", lim.MaxWaitSeconds)
	}
	return a
}

// resolutionChoices reads "1024*1024 (square, default), 1024*1536 (portrait), …"
// off the resolution table.
func resolutionChoices() string {
	parts := make([]string, len(Resolutions))
	for i, r := range Resolutions {
		look := r.English
		if r.Value == DefaultResolution().Value {
			look += ", default"
		}
		parts[i] = fmt.Sprintf("%s (%s)", r.Value, look)
	}
	return strings.Join(parts, ", ")
}

// inputSchema reflects the argument struct and sets each property from the
// table; the struct gives names, types and which arguments are required.
func inputSchema(v any, args map[string]arg) json.RawMessage {
	s := reflectSchema(v)
	for name, a := range args {
		p, ok := s.Properties.Get(name)
		if !ok {
			panic("schema: no argument " + name) // a table row without a field: a programming error
		}
		p.Description = a.description
		if a.enum != nil {
			p.Enum = make([]any, len(a.enum))
			for i, e := range a.enum {
				p.Enum[i] = e
			}
		}
		p.Default = a.def
		p.Minimum, p.Maximum = a.min, a.max
		if a.minLen > 0 {
			p.MinLength = &a.minLen
		}
		if a.maxLen > 0 {
			p.MaxLength = &a.maxLen
		}
	}
	return mustJSON(s)
}

// GenerateInputSchema is generate_image's input schema; style and resolution
// enums come from the tables, the wait and num caps from the configuration.
func GenerateInputSchema(lim Limits) json.RawMessage {
	if wireFits(lim) {
		return fromWire("generate_input.json")
	}
	return reflectGenerateInput(lim)
}

func reflectGenerateInput(lim Limits) json.RawMessage {
	return inputSchema(&GenerateArgs{}, generateArgs(lim))
}

// CheckInputSchema is check_task's input schema.
func CheckInputSchema(lim Limits) json.RawMessage {
	if wireFits(lim) {
		return fromWire("check_input.json")
	}
	return reflectCheckInput(lim)
}

func reflectCheckInput(lim Limits) json.RawMessage {
	return inputSchema(&CheckArgs{}, checkArgs(lim))
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
		"gallery_input.json":  reflectGalleryInput(),
		"none_input.json":     mustJSON(reflectSchema(&ListStylesArgs{})),
		"task_output.json":    mustJSON(reflectSchema(&TaskResult{})),
		"styles_output.json":  mustJSON(reflectSchema(&StylesResult{})),
	}
}
