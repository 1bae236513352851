package sandbox

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strconv"

	"aipaint-mcp/schema"
)

// Images are drawn on a canvas of palette indices at 1/renderScale of the
// final size, then enlarged by nearest neighbour. A paletted PNG skips the
// encoder's per-row filter search, which keeps encoding cheap too.
const (
	renderScale    = 4
	gradientColors = 24 // palette indices 0..23: the style's gradient

	// The sandbox mark: stripes in two colours (palette indices after the
	// gradient) across the top canvas rows.
	markDark   = gradientColors
	markLight  = gradientColors + 1
	markRows   = 6 // 24 px in the image
	markPeriod = 3
)

// renderPNG draws image n of a task: the palette and pattern follow the
// style, the layout follows the text and n.
func renderPNG(style int, text string, n, width, height int) ([]byte, error) {
	rng := rand.New(rand.NewPCG(seedOf(text, n), uint64(style)))
	c := newCanvas(ceilDiv(width, renderScale), ceilDiv(height, renderScale))
	patterns[style%len(patterns)](c, rng)
	drawCircles(c, rng)
	drawSandboxMark(c)
	img := c.enlarge(width, height, renderScale, stylePalette(style))
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

func seedOf(text string, n int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(n)))
	return h.Sum64()
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

type canvas struct {
	w, h int
	pix  []uint8 // palette indices, row by row
}

func newCanvas(w, h int) *canvas {
	return &canvas{w: w, h: h, pix: make([]uint8, w*h)}
}

// fill sets every pixel to f(x, y).
func (c *canvas) fill(f func(x, y int) uint8) {
	for y := range c.h {
		row := c.pix[y*c.w : (y+1)*c.w]
		for x := range row {
			row[x] = f(x, y)
		}
	}
}

// enlarge returns the width*height image with each canvas pixel as a
// scale*scale block.
func (c *canvas) enlarge(width, height, scale int, pal color.Palette) *image.Paletted {
	img := image.NewPaletted(image.Rect(0, 0, width, height), pal)
	for y := range height {
		row := img.Pix[y*img.Stride : y*img.Stride+width]
		if y%scale != 0 {
			copy(row, img.Pix[(y-1)*img.Stride:])
			continue
		}
		src := c.pix[(y/scale)*c.w:]
		for x := range row {
			row[x] = src[x/scale]
		}
	}
	return img
}

// shade maps any integer onto the gradient, back and forth, so that
// neighbouring values get neighbouring colours.
func shade(v int) uint8 {
	const period = 2 * (gradientColors - 1)
	v %= period
	if v < 0 {
		v += period
	}
	if v >= gradientColors {
		v = period - v
	}
	return uint8(v)
}

// patterns are the backgrounds; the style picks one.
var patterns = []func(*canvas, *rand.Rand){bands, diagonals, rings, tiles}

func bands(c *canvas, rng *rand.Rand) {
	period, phase := 4+rng.IntN(12), rng.IntN(gradientColors)
	c.fill(func(_, y int) uint8 { return shade(y/period + phase) })
}

func diagonals(c *canvas, rng *rand.Rand) {
	period, phase := 4+rng.IntN(12), rng.IntN(gradientColors)
	dx, dy := 1+rng.IntN(3), 1+rng.IntN(3)
	c.fill(func(x, y int) uint8 { return shade((x*dx+y*dy)/period + phase) })
}

func rings(c *canvas, rng *rand.Rand) {
	period, phase := 3+rng.IntN(10), rng.IntN(gradientColors)
	cx, cy := rng.IntN(c.w), rng.IntN(c.h)
	c.fill(func(x, y int) uint8 {
		d := math.Hypot(float64(x-cx), float64(y-cy))
		return shade(int(d)/period + phase)
	})
}

func tiles(c *canvas, rng *rand.Rand) {
	size, phase := 8+rng.IntN(24), rng.IntN(gradientColors)
	c.fill(func(x, y int) uint8 { return shade((x/size)*7 + (y/size)*11 + phase) })
}

// drawCircles puts a few filled discs on the background.
func drawCircles(c *canvas, rng *rand.Rand) {
	for range 3 + rng.IntN(4) {
		cx, cy := rng.IntN(c.w), rng.IntN(c.h)
		r := c.w/16 + rng.IntN(c.w/5)
		drawDisc(c, cx, cy, r, uint8(rng.IntN(gradientColors)))
	}
}

func drawDisc(c *canvas, cx, cy, r int, idx uint8) {
	r2 := r*r + r // rounder than r*r: no single-pixel pips at the poles
	for y := max(cy-r, 0); y <= min(cy+r, c.h-1); y++ {
		for x := max(cx-r, 0); x <= min(cx+r, c.w-1); x++ {
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r2 {
				c.pix[y*c.w+x] = idx
			}
		}
	}
}

// drawSandboxMark draws hazard stripes across the top, so a sandbox image
// is never mistaken for a real one.
func drawSandboxMark(c *canvas) {
	for y := range min(markRows, c.h) {
		for x := range c.w {
			idx := uint8(markDark)
			if (x+y)/markPeriod%2 == 1 {
				idx = markLight
			}
			c.pix[y*c.w+x] = idx
		}
	}
}

// stylePalette is the style's gradient followed by the mark's colours.
func stylePalette(style int) color.Palette {
	hue := float64(style) * 360 / float64(len(schema.Styles))
	spread := 60 + 60*float64(style%3)
	sat := 0.45 + 0.15*float64(style%4)
	pal := make(color.Palette, 0, gradientColors+2)
	for i := range gradientColors {
		f := float64(i) / (gradientColors - 1)
		pal = append(pal, hsv(hue+spread*f, sat, 0.3+0.65*f))
	}
	return append(pal, color.RGBA{0x1a, 0x1a, 0x1a, 0xff}, color.RGBA{0xff, 0xcc, 0x00, 0xff})
}

// hsv converts hue (degrees), saturation and value (0..1) to an opaque colour.
func hsv(h, s, v float64) color.RGBA {
	h = math.Mod(h, 360) / 60
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch int(h) {
	case 0:
		r, g, b = c, x, 0
	case 1:
		r, g, b = x, c, 0
	case 2:
		r, g, b = 0, c, x
	case 3:
		r, g, b = 0, x, c
	case 4:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	m := v - c
	to8 := func(f float64) uint8 { return uint8(math.Round((f + m) * 255)) }
	return color.RGBA{to8(r), to8(g), to8(b), 0xff}
}
