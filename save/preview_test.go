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
