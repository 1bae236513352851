package schema

// For the tests of the external package schema_test.
var (
	Reflected  = reflected
	WireLimits = wireLimits
	WireFits   = wireFits
)
