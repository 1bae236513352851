package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"aipaint-mcp/schema"
)

// blockedWord makes a text fail moderation, to simulate code 202.
const blockedWord = "违禁"

type submitRequest struct {
	text       string
	style      int
	resolution schema.Resolution
	num        int
}

func (s *Sandbox) submit(w http.ResponseWriter, r *http.Request, p params) {
	req, problem := validateSubmit(p)
	if problem != "" {
		s.paramError(w, problem)
		return
	}
	if strings.Contains(req.text, blockedWord) {
		s.WriteBusiness(w, http.StatusOK, 202, "", nil)
		return
	}
	now := s.now()
	t := &task{
		id:         newTaskID(),
		text:       req.text,
		style:      req.style,
		resolution: req.resolution,
		num:        req.num,
		created:    now,
		ready:      now.Add(time.Duration(s.delay.Load())),
	}
	s.tasks.add(t)
	s.markBillable(submitKey(p))
	s.stats.submits.Add(1)
	s.stats.billed.Add(int64(t.num))
	s.log.Info("sandbox task submitted", "task_id", t.id, "num", t.num)
	s.WriteBusiness(w, http.StatusOK, 200, "", map[string]string{"taskId": t.id})
}

// validateSubmit checks the parameters exactly as the upstream does: only
// canonical styles and resolutions, no aliases. It returns what is wrong.
func validateSubmit(p params) (submitRequest, string) {
	var req submitRequest
	var problem string
	if req.text, problem = validateText(p["text"]); problem != "" {
		return req, problem
	}
	res, ok := schema.ExactResolution(p["resolution"])
	if !ok {
		return req, "resolution必须是" + strings.Join(schema.ResolutionValues(), "、") + "之一"
	}
	req.resolution = res
	if req.style = styleIndex(p["style"]); req.style < 0 {
		return req, "style不支持，可选：" + strings.Join(schema.StyleNames(), "、")
	}
	if req.num, ok = parseNum(p["num"]); !ok {
		return req, "num必须是" + strconv.Itoa(schema.MinNum) + "到" + strconv.Itoa(schema.MaxNum) + "之间的整数"
	}
	return req, ""
}

func validateText(text string) (string, string) {
	switch {
	case text == "":
		return "", "text不能为空"
	case !utf8.ValidString(text):
		return "", "text不是合法的UTF-8"
	case utf8.RuneCountInString(text) > schema.MaxTextChars:
		return "", "text长度不能超过" + strconv.Itoa(schema.MaxTextChars) + "个字"
	}
	return text, ""
}

// styleIndex returns the index of a canonical style in schema.Styles, or -1.
func styleIndex(name string) int {
	if !schema.ExactStyle(name) {
		return -1
	}
	for i, st := range schema.Styles {
		if st.Name == name {
			return i
		}
	}
	return -1
}

func parseNum(v string) (int, bool) {
	if v == "" {
		return schema.MinNum, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= schema.MinNum && n <= schema.MaxNum
}

// markBillable remembers a submit answered in a way that may have billed it.
func (s *Sandbox) markBillable(key string) {
	if key != "" {
		s.billable.put(key, struct{}{})
	}
}

func (s *Sandbox) mayBeBilled(key string) bool {
	_, ok := s.billable.get(key)
	return key != "" && ok
}

// submitKey identifies a submit by what it asks for (as sent, before
// validation); "" when there is no text.
func submitKey(p params) string {
	if p["text"] == "" {
		return ""
	}
	return strings.Join([]string{p["text"], p["style"], p["resolution"], p["num"]}, "\x00")
}
