// Package picdex holds what the picdex binary bundles from the repository
// root: the demo corpus loaded by `picdex serve` into an empty index, so a
// fresh install has something to show.
package picdex

import _ "embed"

// DemoJSONL is testdata/demo.jsonl, the synthetic demo corpus written by
// crawler/synth: one record per line.
//
//go:embed testdata/demo.jsonl
var DemoJSONL []byte
