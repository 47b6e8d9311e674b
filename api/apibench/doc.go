// Package apibench measures the HTTP API as its users meet it: a real
// `picdex serve` process over a synthetic index, driven by closed-loop
// HTTP clients (`picdex bench --suite overload|load`, `picdex loadgen`).
//
// The overload suite times single-word searches alone and while clients
// send the most expensive searches the query budget accepts, in the same
// run, and reports the p99 ratio, the server's RSS growth and any 5xx. The
// load suite drives many connections of mixed searches, then the same
// with a rate limit per API key, and compares the admitted requests'
// p99. Figures are medians over repeats; the machine should be otherwise
// idle.
package apibench
