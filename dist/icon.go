package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
)

const iconSize = 512

type rgba struct{ r, g, b, a float64 }

func hexColor(v uint32, a float64) rgba {
	return rgba{float64(v>>16&0xff) / 255, float64(v>>8&0xff) / 255, float64(v&0xff) / 255, a}
}

// over paints c over dst (straight alpha).
func over(dst, c rgba) rgba {
	a := c.a + dst.a*(1-c.a)
	if a == 0 {
		return rgba{}
	}
	mix := func(s, d float64) float64 { return (s*c.a + d*dst.a*(1-c.a)) / a }
	return rgba{mix(c.r, dst.r), mix(c.g, dst.g), mix(c.b, dst.b), a}
}

func lerp(a, b rgba, t float64) rgba {
	return rgba{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t, a.a + (b.a-a.a)*t}
}

// Signed distances: negative inside.
func sdCircle(x, y, cx, cy, r float64) float64 { return math.Hypot(x-cx, y-cy) - r }

func sdEllipse(x, y, cx, cy, rx, ry float64) float64 { // approximate, good enough for filling
	dx, dy := (x-cx)/rx, (y-cy)/ry
	return (math.Hypot(dx, dy) - 1) * math.Min(rx, ry)
}

func sdRoundRect(x, y, x0, y0, x1, y1, r float64) float64 {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := (x1-x0)/2-r, (y1-y0)/2-r
	qx, qy := math.Abs(x-cx)-hx, math.Abs(y-cy)-hy
	return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - r
}

// sdTaper is a segment from a to b whose radius goes from ra to rb.
func sdTaper(x, y, ax, ay, bx, by, ra, rb float64) float64 {
	px, py := x-ax, y-ay
	ux, uy := bx-ax, by-ay
	t := math.Max(0, math.Min(1, (px*ux+py*uy)/(ux*ux+uy*uy)))
	return math.Hypot(px-ux*t, py-uy*t) - (ra + (rb-ra)*t)
}

// iconAt is the colour of one point of the icon: a palette with five paints
// (one is 中国红, cinnabar) and a brush, on an indigo tile.
func iconAt(x, y float64) rgba {
	var c rgba
	if sdRoundRect(x, y, 16, 16, 496, 496, 104) > 0 {
		return c
	}
	t := (x + y) / (2 * iconSize)
	c = lerp(hexColor(0x4F46E5, 1), hexColor(0xA21CAF, 1), t)
	// The palette, its shadow, and the thumb hole through both.
	hole := sdCircle(x, y, 318, 352, 34)
	if sdEllipse(x, y, 238, 286, 178, 146) < 0 && sdCircle(x, y, 326, 362, 34) > 0 {
		c = over(c, rgba{0, 0, 0, 0.22})
	}
	if sdEllipse(x, y, 228, 272, 178, 146) < 0 && hole > 0 && sdCircle(x, y, 392, 290, 46) > 0 {
		c = over(c, hexColor(0xFFF4E0, 1))
		if sdEllipse(x, y, 228, 272, 178, 146) > -7 || (hole < 7) {
			c = over(c, hexColor(0xE8D5B5, 1)) // rim
		}
	}
	paints := []struct {
		x, y, r float64
		col     uint32
	}{
		{128, 246, 30, 0xDC2626}, // 中国红
		{186, 174, 30, 0xF59E0B},
		{270, 160, 30, 0x16A34A},
		{122, 328, 28, 0x2563EB},
		{196, 376, 26, 0x111827}, // 墨 ink
	}
	for _, p := range paints {
		if sdCircle(x, y, p.x, p.y, p.r) < 0 {
			c = over(c, hexColor(p.col, 1))
			if sdCircle(x, y, p.x-p.r*0.35, p.y-p.r*0.35, p.r*0.28) < 0 {
				c = over(c, rgba{1, 1, 1, 0.35}) // highlight
			}
		}
	}
	// The brush: handle, ferrule and a tip dipped in red, lying across.
	const hx0, hy0, hx1, hy1 = 452.0, 468.0, 330.0, 232.0
	if sdTaper(x, y, hx0+6, hy0+8, hx1+6, hy1+8, 16, 12) < 0 {
		c = over(c, rgba{0, 0, 0, 0.25})
	}
	if sdTaper(x, y, hx0, hy0, hx1, hy1, 16, 12) < 0 {
		c = over(c, hexColor(0x92400E, 1))
		if sdTaper(x, y, hx0-5, hy0, hx1-5, hy1, 4, 3) < 0 {
			c = over(c, rgba{1, 1, 1, 0.18})
		}
	}
	fx, fy := hx1+(hx1-hx0)*0.22, hy1+(hy1-hy0)*0.22
	if sdTaper(x, y, hx1, hy1, fx, fy, 14, 14) < 0 {
		c = over(c, hexColor(0xCBD5E1, 1))
	}
	tx, ty := fx+(hx1-hx0)*0.45, fy+(hy1-hy0)*0.45
	if sdTaper(x, y, fx, fy, tx, ty, 15, 1) < 0 {
		c = over(c, hexColor(0x1F2937, 1))
		mx, my := fx+(tx-fx)*0.55, fy+(ty-fy)*0.55
		if sdTaper(x, y, mx, my, tx, ty, 9, 1) < 0 {
			c = over(c, hexColor(0xDC2626, 1))
		}
	}
	return c
}

// drawIcon renders the 512×512 icon with 4×4 supersampling.
func drawIcon() ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	const ss = 4
	for py := 0; py < iconSize; py++ {
		for px := 0; px < iconSize; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					c := iconAt(float64(px)+(float64(sx)+0.5)/ss, float64(py)+(float64(sy)+0.5)/ss)
					r, g, b, a = r+c.r*c.a, g+c.g*c.a, b+c.b*c.a, a+c.a
				}
			}
			if a == 0 {
				continue
			}
			to8 := func(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(1, v)) * 255)) }
			img.SetNRGBA(px, py, color.NRGBA{to8(r / a), to8(g / a), to8(b / a), to8(a / (ss * ss))})
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
