package schema_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
)

func TestParseImageSize(t *testing.T) {
	def, err := schema.ParseImageSize("")
	require.NoError(t, err)
	assert.Equal(t, schema.ImageSizes[0], def, "no size is the first of the table")
	for _, s := range schema.ImageSizes {
		got, err := schema.ParseImageSize(s.Name)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err = schema.ParseImageSize("huge")
	assert.EqualError(t, err, `size "huge": want thumb or large`)
	assert.Equal(t, "thumb (384 px) or large (1024 px)", schema.ImageSizeChoices())
}

// gallery_image's schema comes from the size table and the num cap.
func TestGalleryInputSchemaFromTables(t *testing.T) {
	s := object(t, schema.GalleryInputSchema())
	assert.Equal(t, []any{"task_id", "index"}, s["required"])
	assert.EqualValues(t, 1, prop(t, s, "task_id")["minLength"])
	index := prop(t, s, "index")
	assert.Equal(t, "integer", index["type"])
	assert.EqualValues(t, 1, index["minimum"])
	assert.EqualValues(t, schema.MaxNum, index["maximum"])
	size := prop(t, s, "size")
	assert.Len(t, size["enum"], len(schema.ImageSizes))
	assert.Equal(t, schema.ImageSizes[0].Name, size["default"])
	for i, sz := range schema.ImageSizes {
		assert.Equal(t, sz.Name, strs(size["enum"])[i])
		assert.Contains(t, size["description"], sz.Name+": "+strconv.Itoa(sz.Side)+" px")
	}
}
