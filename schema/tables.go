// Package schema is what the model sees: the style and resolution tables,
// the tool argument and result structs, their normalisation, and the JSON
// schemas generated from them. It knows nothing about HTTP or MCP.
package schema

import (
	"fmt"
	"strings"
)

// Style is one of the upstream's 17 painting styles.
type Style struct {
	Name        string   `json:"name"`        // canonical, sent upstream as is
	English     string   `json:"english"`     // the English name (also an alias)
	Aliases     []string `json:"aliases"`     // more accepted spellings (case-insensitive)
	Description string   `json:"description"` // one line on the look
}

// Resolution is one of the upstream's 3 output sizes.
type Resolution struct {
	Value   string   `json:"value"` // canonical, sent upstream: width*height
	Width   int      `json:"width"`
	Height  int      `json:"height"`
	English string   `json:"english"`
	Aliases []string `json:"aliases"`
}

// Styles is the one table of styles. Its first entry is the default.
var Styles = []Style{
	{"探索无限", "explore", []string{"infinite", "auto", "default", "any"}, "模型自由发挥 / free exploration: the model picks the look"},
	{"古风", "ancient chinese", []string{"chinese", "guofeng", "traditional chinese", "ink", "gufeng"}, "中国古典水墨与工笔 / classical Chinese painting, ink and silk"},
	{"二次元", "anime", []string{"manga", "acg", "2d"}, "日系动漫插画 / Japanese anime and manga illustration"},
	{"写实风格", "realistic", []string{"realism", "photo", "photorealistic", "photography"}, "照片般写实 / photorealistic"},
	{"浮世绘", "ukiyo-e", []string{"ukiyoe", "japanese woodblock", "woodblock"}, "日本浮世绘木版画 / Japanese ukiyo-e woodblock print"},
	{"low poly", "low poly", []string{"lowpoly", "low-poly", "polygon"}, "低多边形几何 / low-polygon geometric 3D"},
	{"未来主义", "futurism", []string{"futuristic", "sci-fi", "scifi"}, "未来主义与科幻 / futurist, sci-fi"},
	{"像素风格", "pixel art", []string{"pixel", "8-bit", "8bit", "retro game"}, "像素游戏画面 / retro pixel art"},
	{"概念艺术", "concept art", []string{"concept", "game art"}, "游戏电影概念设定 / game and film concept art"},
	{"赛博朋克", "cyberpunk", []string{"cyber", "cyber punk"}, "霓虹都市与高科技 / neon-lit high-tech city"},
	{"洛丽塔风格", "lolita", []string{"lolita fashion", "gothic lolita"}, "洛丽塔服饰与甜美装饰 / Lolita fashion, lace and frills"},
	{"巴洛克风格", "baroque", []string{"rococo"}, "巴洛克华丽繁复 / ornate baroque, dramatic light"},
	{"超现实主义", "surrealism", []string{"surreal", "dali"}, "超现实梦境 / dreamlike surrealism"},
	{"水彩画", "watercolor", []string{"watercolour", "aquarelle"}, "透明水彩 / soft transparent watercolour"},
	{"蒸汽波艺术", "vaporwave", []string{"vapor wave", "synthwave", "retrowave"}, "蒸汽波复古霓虹 / vaporwave, 80s-90s pastel neon"},
	{"油画", "oil painting", []string{"oil", "classical painting"}, "厚涂油画 / oil on canvas"},
	{"卡通画", "cartoon", []string{"comic", "kids illustration"}, "卡通插画 / cartoon illustration"},
}

// Resolutions is the one table of resolutions. Its first entry is the default.
var Resolutions = []Resolution{
	{"1024*1024", 1024, 1024, "square", []string{"1024x1024", "1024×1024", "1:1", "正方形", "方图"}},
	{"1024*1536", 1024, 1536, "portrait", []string{"1024x1536", "1024×1536", "2:3", "vertical", "竖图", "竖版"}},
	{"1536*1024", 1536, 1024, "landscape", []string{"1536x1024", "1536×1024", "3:2", "horizontal", "横图", "横版"}},
}

// Limits of the upstream API.
const (
	MaxTextChars = 100
	MinNum       = 1
	MaxNum       = 6
)

// DefaultStyle and DefaultResolution are what an omitted argument means.
func DefaultStyle() Style { return Styles[0] }

// DefaultResolution is the resolution used when none is given.
func DefaultResolution() Resolution { return Resolutions[0] }

// StyleNames lists the canonical style names in table order.
func StyleNames() []string {
	out := make([]string, len(Styles))
	for i, s := range Styles {
		out[i] = s.Name
	}
	return out
}

// ResolutionValues lists the canonical resolutions in table order.
func ResolutionValues() []string {
	out := make([]string, len(Resolutions))
	for i, r := range Resolutions {
		out[i] = r.Value
	}
	return out
}

func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

var (
	styleIndex      = map[string]int{}
	resolutionIndex = map[string]int{}
)

func init() {
	for i, s := range Styles {
		for _, k := range append([]string{s.Name, s.English}, s.Aliases...) {
			addKey(styleIndex, fold(k), i)
		}
	}
	for i, r := range Resolutions {
		for _, k := range append([]string{r.Value, r.English}, r.Aliases...) {
			addKey(resolutionIndex, fold(k), i)
		}
	}
}

func addKey(m map[string]int, k string, i int) {
	if j, dup := m[k]; dup && j != i {
		panic(fmt.Sprintf("schema: alias %q names two table entries", k))
	}
	m[k] = i
}

// ExactStyle reports whether name is a canonical style, as the upstream demands.
func ExactStyle(name string) bool {
	i, ok := styleIndex[fold(name)]
	return ok && Styles[i].Name == name
}

// ExactResolution reports whether v is a canonical resolution.
func ExactResolution(v string) (Resolution, bool) {
	for _, r := range Resolutions {
		if r.Value == v {
			return r, true
		}
	}
	return Resolution{}, false
}

// ParseStyle accepts a canonical name or an alias (case and spacing ignored).
func ParseStyle(s string) (Style, error) {
	if i, ok := styleIndex[fold(s)]; ok {
		return Styles[i], nil
	}
	return Style{}, fmt.Errorf("unknown style %q; choose one of %s (English names such as cyberpunk or watercolor also work), or call list_styles",
		truncate(s, 40), strings.Join(StyleNames(), ", "))
}

// ParseResolution accepts a canonical value or an alias such as 1024x1536, portrait or 2:3.
func ParseResolution(s string) (Resolution, error) {
	if i, ok := resolutionIndex[fold(s)]; ok {
		return Resolutions[i], nil
	}
	return Resolution{}, fmt.Errorf("unknown resolution %q; choose one of %s (or square, portrait, landscape, 1:1, 2:3, 3:2)",
		truncate(s, 40), strings.Join(ResolutionValues(), ", "))
}
