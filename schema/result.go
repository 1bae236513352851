package schema

import "encoding/json"

// Status is a task's status in a result: what the output schema's enum
// lists.
type Status string

// The statuses a result reports.
const (
	StatusPending Status = "pending"
	StatusDone    Status = "done"
)

// Image is one generated picture.
type Image struct {
	URL       string `json:"url" jsonschema_description:"Image URL (valid for about three months)."`
	Index     int    `json:"index" jsonschema_description:"1-based position within the task."`
	ExpiresAt string `json:"expires_at,omitempty" jsonschema_description:"When the URL stops working (RFC 3339): three months after the task was created."`
	Path      string `json:"path,omitempty" jsonschema_description:"Absolute path of the saved file on the server's machine, when saved."`
	SaveError string `json:"save_error,omitempty" jsonschema_description:"Why saving the file failed; check_task tries again."`
}

// Usage is today's spending against the daily limit.
type Usage struct {
	Today  int          `json:"today" jsonschema_description:"Images submitted today (the day in AIPAINT_TIMEZONE, by default the server's local day), across all server processes."`
	Limit  int          `json:"limit" jsonschema_description:"AIPAINT_DAILY_IMAGE_LIMIT; 0 = no limit."`
	Person *PersonUsage `json:"person,omitempty" jsonschema_description:"On a team server: the caller's own images today and their limit."`
}

// PersonUsage is one person's spending on a team server.
type PersonUsage struct {
	Name  string `json:"name" jsonschema_description:"The caller's name in the server's tokens file."`
	Today int    `json:"today" jsonschema_description:"Images this person submitted today."`
	Limit *int   `json:"limit" jsonschema:"oneof_type=integer;null" jsonschema_description:"This person's daily limit; null = no personal limit (the team's applies); 0 = may not submit."`
}

// TaskResult is the structured content of generate_image and check_task.
// Field names are relied on by users' scripts: add, never rename.
type TaskResult struct {
	TaskID        string  `json:"task_id" jsonschema_description:"Upstream task id; pass it to check_task."`
	Status        Status  `json:"status" jsonschema:"enum=pending,enum=done" jsonschema_description:"pending: still drawing; done: images ready."`
	Images        []Image `json:"images" jsonschema_description:"The images; empty while pending."`
	Text          string  `json:"text,omitempty" jsonschema_description:"The prompt as sent."`
	Style         string  `json:"style,omitempty" jsonschema_description:"The style as sent (canonical name)."`
	Resolution    string  `json:"resolution,omitempty" jsonschema_description:"The resolution as sent."`
	Num           int     `json:"num,omitempty" jsonschema_description:"Images requested."`
	TaskNo        string  `json:"task_no,omitempty" jsonschema_description:"Upstream request serial number (for support)."`
	CreatedAt     string  `json:"created_at,omitempty" jsonschema_description:"When the upstream created the task (RFC 3339)."`
	WaitedSeconds float64 `json:"waited_seconds" jsonschema_description:"Seconds this call waited."`
	NextStep      string  `json:"next_step,omitempty" jsonschema_description:"What to do next when the task is still pending."`
	Sandbox       bool    `json:"sandbox,omitempty" jsonschema_description:"True when the images come from the built-in sandbox, not the real API."`
	Deduplicated  bool    `json:"deduplicated" jsonschema_description:"True when an identical recent request's task was returned instead of paying again."`
	BilledImages  int     `json:"billed_images" jsonschema_description:"Images this call submitted and paid for (0 when deduplicated or for check_task)."`
	Usage         *Usage  `json:"usage,omitempty" jsonschema_description:"Today's submitted images and the daily limit."`
	TaskExpiresAt string  `json:"task_expires_at,omitempty" jsonschema_description:"When the upstream forgets the task id (RFC 3339): one month after creation."`
	Summary       string  `json:"summary,omitempty" jsonschema_description:"The readable answer (the result's text block: the Markdown image lines to show the user, what was billed, whether the images are sandbox stand-ins), given only to hosts that hand their model structured content alone."`
}

// MarshalJSON writes images as [] rather than null when there are none: the
// output schema requires an array, and clients validate structured content.
func (r TaskResult) MarshalJSON() ([]byte, error) {
	type plain TaskResult // same fields, without this method
	if r.Images == nil {
		r.Images = []Image{}
	}
	return json.Marshal(plain(r))
}

// StylesResult is the structured content of list_styles.
type StylesResult struct {
	Styles            []Style      `json:"styles"`
	Resolutions       []Resolution `json:"resolutions"`
	DefaultStyle      string       `json:"default_style"`
	DefaultResolution string       `json:"default_resolution"`
	MaxTextChars      int          `json:"max_text_chars"`
	MaxNum            int          `json:"max_num"`
}

// ListStyles builds the list_styles answer from the tables.
func ListStyles() StylesResult {
	return StylesResult{
		Styles:            Styles,
		Resolutions:       Resolutions,
		DefaultStyle:      DefaultStyle().Name,
		DefaultResolution: DefaultResolution().Value,
		MaxTextChars:      MaxTextChars,
		MaxNum:            MaxNum,
	}
}
