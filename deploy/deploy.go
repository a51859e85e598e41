// Package deploy holds what operators use to run cardwatch; the Go file only embeds the
// example rules so that `cardwatch demo` needs no file on disk.
package deploy

import _ "embed"

// ExampleRules is rules.example.yaml, the rules `cardwatch demo` runs with.
//
//go:embed rules.example.yaml
var ExampleRules []byte
