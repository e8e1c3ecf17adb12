package config

import _ "embed"

//go:embed example.toml
var example string

// Example returns a complete, commented configuration file holding the
// built-in defaults (`postern config example`). It parses to Default with
// the trusted networks spelled out.
func Example() string { return example }
