package save

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pngOf(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func TestPreviewDownscalesKeepingTheAspect(t *testing.T) {
	for _, tc := range []struct{ w, h, wantW, wantH int }{
		{1024, 1536, 341, 512},
		{1536, 1024, 512, 341},
		{1024, 1024, 512, 512},
		{300, 200, 300, 200}, // small images are not enlarged
	} {
		out, err := Preview(pngOf(t, tc.w, tc.h, color.RGBA{200, 40, 40, 255}), PreviewSide, 80)
		require.NoError(t, err)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
		require.NoError(t, err)
		assert.Equal(t, "jpeg", format)
		assert.Equal(t, tc.wantW, cfg.Width, "%dx%d", tc.w, tc.h)
		assert.Equal(t, tc.wantH, cfg.Height, "%dx%d", tc.w, tc.h)
	}
}

func TestPreviewKeepsTheColours(t *testing.T) {
	out, err := Preview(pngOf(t, 1024, 1024, color.RGBA{10, 200, 30, 255}), 64, 95)
	require.NoError(t, err)
	img, _, err := image.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	r, g, b, _ := img.At(32, 32).RGBA()
	assert.InDelta(t, 10, r>>8, 8)
	assert.InDelta(t, 200, g>>8, 8)
	assert.InDelta(t, 30, b>>8, 8)
}

func TestPreviewRefusesWhatIsNotAnImage(t *testing.T) {
	_, err := Preview([]byte("<html>not an image</html>"), PreviewSide, 80)
	assert.ErrorContains(t, err, "preview")
}

// Fine detail must average out, not alias: one-pixel stripes scaled by 3/8
// become an even grey (a nearest-pixel scaler gives bands of black and
// white).
func TestPreviewAveragesFineDetail(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 1024, 1024))
	for y := range 1024 {
		for x := range 1024 {
			if x%2 == 0 {
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	out, err := Preview(buf.Bytes(), 384, 95)
	require.NoError(t, err)
	got, _, err := image.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	for x := 8; x < 376; x += 37 {
		r, _, _, _ := got.At(x, 192).RGBA()
		assert.InDelta(t, 128, r>>8, 24, "x=%d", x)
	}
}

func TestPreviewFlattensTransparencyOntoWhite(t *testing.T) {
	out, err := Preview(pngOf(t, 600, 600, color.RGBA{}), 300, 95)
	require.NoError(t, err)
	img, _, err := image.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	r, g, b, _ := img.At(150, 150).RGBA()
	assert.Greater(t, r>>8, uint32(245))
	assert.Greater(t, g>>8, uint32(245))
	assert.Greater(t, b>>8, uint32(245))
}
