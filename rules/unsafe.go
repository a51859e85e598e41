package rules

import "unsafe"

// unsafeString views b as a string without copying. Only for a lookup or a parse that
// does not keep the string: b is scratch space that is written again.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
