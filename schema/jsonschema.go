package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"
)

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
	s := reflectSchema(&CheckArgs{})
	capWait(s, lim)
	return mustJSON(s)
}

// NoInputSchema is the input schema of a tool without arguments.
func NoInputSchema() json.RawMessage { return mustJSON(reflectSchema(&ListStylesArgs{})) }

// TaskOutputSchema is the output schema of generate_image and check_task.
func TaskOutputSchema() json.RawMessage { return mustJSON(reflectSchema(&TaskResult{})) }

// StylesOutputSchema is the output schema of list_styles.
func StylesOutputSchema() json.RawMessage { return mustJSON(reflectSchema(&StylesResult{})) }
