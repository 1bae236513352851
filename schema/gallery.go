package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// GalleryImageArgs are the arguments of gallery_image, the tool that only
// the gallery view calls (an MCP App), never the model.
type GalleryImageArgs struct {
	TaskID string `json:"task_id"`
	Index  int    `json:"index"`
	Size   string `json:"size,omitempty"`
}

// ImageSize is a size the gallery view asks a picture in: the longest side
// in pixels and the JPEG quality of the downscaled copy.
type ImageSize struct {
	Name    string
	Side    int
	Quality int
}

// ImageSizes is the one table of the view's sizes; the first is the
// default. A thumbnail fills a grid cell of about 180 CSS px at 2x; the
// large view is as wide as a chat column gets.
var ImageSizes = []ImageSize{
	{"thumb", 384, 78},
	{"large", 1024, 85},
}

// ParseImageSize finds a size by name; "" is the default.
func ParseImageSize(name string) (ImageSize, error) {
	if name == "" {
		return ImageSizes[0], nil
	}
	for _, s := range ImageSizes {
		if s.Name == name {
			return s, nil
		}
	}
	return ImageSize{}, fmt.Errorf("size %q: want %s", name, imageSizeNames(" or "))
}

// imageSizeNames reads "thumb or large" off the table.
func imageSizeNames(sep string) string {
	names := make([]string, len(ImageSizes))
	for i, s := range ImageSizes {
		names[i] = s.Name
	}
	return strings.Join(names, sep)
}

// ImageSizeChoices reads "thumb (384 px) or large (1024 px)" off the table.
func ImageSizeChoices() string {
	parts := make([]string, len(ImageSizes))
	for i, s := range ImageSizes {
		parts[i] = fmt.Sprintf("%s (%d px)", s.Name, s.Side)
	}
	return strings.Join(parts, " or ")
}

// galleryArgs is gallery_image's row of the argument table.
func galleryArgs() map[string]arg {
	sizes := make([]string, len(ImageSizes))
	described := make([]string, len(ImageSizes))
	for i, s := range ImageSizes {
		sizes[i] = s.Name
		described[i] = fmt.Sprintf("%s: %d px", s.Name, s.Side)
	}
	return map[string]arg{
		"task_id": {minLen: 1, description: "The task's id."},
		"index":   {min: number(1), max: number(MaxNum), description: "1-based number of the picture within the task."},
		"size": {enum: sizes, def: ImageSizes[0].Name,
			description: strings.Join(described, "; ") + " (longest side)."},
	}
}

// GalleryInputSchema is gallery_image's input schema. It depends on no
// configured limit: a task made when the cap was higher still shows all
// its pictures.
func GalleryInputSchema() json.RawMessage { return fromWire("gallery_input.json") }

func reflectGalleryInput() json.RawMessage {
	return inputSchema(&GalleryImageArgs{}, galleryArgs())
}
