package save

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // decode the upstream's PNGs

	_ "image/gif" // and what else an image URL may hold
)

// An inline preview: its longest side, and its JPEG quality.
const (
	PreviewSide    = 512
	PreviewQuality = 80
)

// Preview decodes an image and returns a JPEG whose longest side is at most
// maxSide, never the full-size picture.
func Preview(data []byte, maxSide, quality int) ([]byte, error) {
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, shrink(src, maxSide), &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	return buf.Bytes(), nil
}

// shrink scales down by averaging the source pixels under each target pixel
// (a box filter: sharp enough for a preview, and no dependency).
func shrink(src image.Image, maxSide int) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= maxSide && h <= maxSide {
		return src
	}
	tw, th := maxSide, max(1, h*maxSide/w)
	if h > w {
		tw, th = max(1, w*maxSide/h), maxSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		y0, y1 := b.Min.Y+y*h/th, b.Min.Y+max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := b.Min.X+x*w/tw, b.Min.X+max((x+1)*w/tw, x*w/tw+1)
			var r, g, bl, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, _ := src.At(sx, sy).RGBA()
					r, g, bl, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), n+1
				}
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), 0xff})
		}
	}
	return dst
}
