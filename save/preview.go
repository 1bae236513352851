package save

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // decode the upstream's PNGs

	_ "image/gif" // and what else an image URL may hold

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// An inline preview: its longest side, and its JPEG quality.
const (
	PreviewSide    = 512
	PreviewQuality = 80
)

// Preview decodes an image and returns a JPEG whose longest side is at most
// maxSide, never the full-size picture. Smaller images keep their size.
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

// shrink scales down with Catmull-Rom (x/image/draw): sharp without the
// ringing and moiré of a box or nearest filter on the fine textures that
// generated pictures have. Transparency is flattened onto white, as a JPEG
// has none.
func shrink(src image.Image, maxSide int) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if w > maxSide || h > maxSide {
		tw, th = maxSide, max(1, (h*maxSide+w/2)/w)
		if h > w {
			tw, th = max(1, (w*maxSide+h/2)/h), maxSide
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	if tw == w && th == h {
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Over)
		return dst
	}
	op := draw.Over
	if o, ok := src.(interface{ Opaque() bool }); ok && o.Opaque() {
		op = draw.Src // the same pixels, on x/image's faster paths
	}
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, op, nil)
	return dst
}
