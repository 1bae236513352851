package schema

import "strings"

// CompleteStyle returns the canonical styles that prefix could be the start
// of: of the Chinese name, the English name or an alias, or of one of their
// words ("cyb" → 赛博朋克, "water" → 水彩画, "poly" → low poly). An empty
// prefix gives every style. Table order is kept.
func CompleteStyle(prefix string) []string {
	var out []string
	for _, s := range Styles {
		if matchesAny(prefix, append([]string{s.Name, s.English}, s.Aliases...)) {
			out = append(out, s.Name)
		}
	}
	return out
}

// CompleteResolution does the same for resolutions ("por" → 1024*1536,
// "1536" → 1536*1024).
func CompleteResolution(prefix string) []string {
	var out []string
	for _, r := range Resolutions {
		if matchesAny(prefix, append([]string{r.Value, r.English}, r.Aliases...)) {
			out = append(out, r.Value)
		}
	}
	return out
}

func matchesAny(prefix string, keys []string) bool {
	p := fold(prefix)
	if p == "" {
		return true
	}
	for _, k := range keys {
		k = fold(k)
		if strings.HasPrefix(k, p) {
			return true
		}
		for _, w := range strings.FieldsFunc(k, func(r rune) bool { return r == ' ' || r == '-' }) {
			if strings.HasPrefix(w, p) {
				return true
			}
		}
	}
	return false
}
