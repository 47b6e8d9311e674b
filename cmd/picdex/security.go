package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/picdex/picdex/api"
)

// Environment variables holding API keys.
const (
	// envServerKeys holds a server's keys in the key file's format, the
	// lines separated by newlines or ';' (one line is easier to pass to
	// a container).
	envServerKeys = "PICDEX_API_KEYS"
	// envClientKey is the key client commands send.
	envClientKey = "PICDEX_API_KEY"
)

// securityHelp is the help text of the flags securityFlags adds.
const securityHelp = `
With --api-keys FILE (or the keys in $PICDEX_API_KEYS, same format, lines
separated by newlines or ';'; both may be given) requests carry
"Authorization: Bearer KEY": ingests and deletes need a key with the write
scope, admin calls one with admin, and, with --require-search-key,
searches and image reads one with search. A key file line is SCOPES KEY, e.g.
"search,write 9b1c…", where KEY may be sha256:HEX, the key's SHA-256, so
the file need not hold the key itself; # starts a comment. Keys are held
only as digests and never logged; logs name a key by its id, key- and
the first 8 hex digits of its SHA-256. Probes, /metrics, /openapi.json
and the UI never need a key.

--rate-limit N allows each key, or each client address for requests
without a valid key, N requests a second (bursts of 2N); past it the
answer is 429 with Retry-After. --cors-origins lets the pages of those
origins call the API from a browser (off by default). At most --max-conns
connections are served at once, at most --max-conns-per-client of them
from one address, and near the cap connections idle between requests are
closed to make room; headers are limited to 64 KiB and 10s, and a request
body must arrive at 16 KiB/s or more after its first 5s.`

// securityFlags are the access flags of the commands that serve the API.
type securityFlags struct {
	apiKeys          *string
	requireSearchKey *bool
	rateLimit        *float64
	corsOrigins      *string
	maxConns         *int
	maxConnsClient   *int
}

func addSecurityFlags(fs *flag.FlagSet) securityFlags {
	return securityFlags{
		apiKeys: fs.String("api-keys", "", "API key `file`: lines of SCOPES KEY (scopes search, write, admin; KEY or sha256:HEX); keys in $"+envServerKeys+" are added"),
		requireSearchKey: fs.Bool("require-search-key", false,
			"searches and GET /v1/images/{id} need a key with the search scope (default: only writes and admin calls need a key)"),
		rateLimit: fs.Float64("rate-limit", 0, "`N` requests a second per key, or per client address without a key, bursts of 2N (0: no limit)"),
		corsOrigins: fs.String("cors-origins", "",
			"origins whose web pages may call the API, a `LIST` of scheme://host[:port],... or * for any (default: none, no CORS headers)"),
		maxConns:       fs.Int("max-conns", api.DefaultMaxConns, "`N` connections served at once; more wait to be accepted"),
		maxConnsClient: fs.Int("max-conns-per-client", 0, "`N` connections of one client address at once; more are closed (0: half of --max-conns)"),
	}
}

// apply sets the access options of o and returns the server's bounds.
func (f securityFlags) apply(e *env, o *api.Options) (api.ServerOptions, error) {
	keys, err := serverKeys(e, *f.apiKeys)
	if err != nil {
		return api.ServerOptions{}, err
	}
	if *f.requireSearchKey && keys == nil {
		return api.ServerOptions{}, errors.New("--require-search-key needs keys: --api-keys FILE or $" + envServerKeys)
	}
	if *f.maxConns <= 0 {
		return api.ServerOptions{}, fmt.Errorf("--max-conns %d: want a positive number", *f.maxConns)
	}
	if *f.maxConnsClient < 0 || *f.maxConnsClient > *f.maxConns {
		return api.ServerOptions{}, fmt.Errorf("--max-conns-per-client %d: want 0 or up to --max-conns", *f.maxConnsClient)
	}
	o.Keys, o.RequireSearchKey, o.RateLimit = keys, *f.requireSearchKey, *f.rateLimit
	o.CORSOrigins = nil
	for origin := range strings.SplitSeq(*f.corsOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.CORSOrigins = append(o.CORSOrigins, origin)
		}
	}
	if err := o.Validate(); err != nil {
		return api.ServerOptions{}, err
	}
	return api.ServerOptions{MaxConns: *f.maxConns, MaxConnsPerClient: *f.maxConnsClient, Logger: o.Logger}, nil
}

// serverKeys reads the keys of --api-keys and $PICDEX_API_KEYS; nil when
// neither gives any.
func serverKeys(e *env, path string) (*api.Keys, error) {
	var fromFile, fromEnv *api.Keys
	if path != "" {
		ks, err := api.LoadKeys(path)
		if err != nil {
			return nil, fmt.Errorf("--api-keys %w", err)
		}
		fromFile = ks
	}
	if v := e.getenv(envServerKeys); strings.TrimSpace(v) != "" {
		ks, err := api.ParseKeys(strings.NewReader(strings.ReplaceAll(v, ";", "\n")))
		if err != nil {
			return nil, fmt.Errorf("$%s: %w (lines are separated by newlines or ';')", envServerKeys, err)
		}
		fromEnv = ks
	}
	ks, err := api.MergeKeys(fromFile, fromEnv)
	if err != nil {
		return nil, fmt.Errorf("--api-keys and $%s: %w", envServerKeys, err)
	}
	return ks, nil
}

// clientKey is the key a client command sends: the content of file when
// given, else $PICDEX_API_KEY; "" for none.
func clientKey(e *env, file string) (string, error) {
	if file == "" {
		key := strings.TrimSpace(e.getenv(envClientKey))
		if strings.ContainsAny(key, " \t\r\n") {
			return "", fmt.Errorf("$%s: want the key alone", envClientKey)
		}
		return key, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--api-key-file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return "", fmt.Errorf("--api-key-file %s: want a file holding the key alone", file)
	}
	return key, nil
}

// addAPIKeyFileFlag is the client commands' way to give a key without
// putting it in the environment or on the command line.
func addAPIKeyFileFlag(fs *flag.FlagSet) *string {
	return fs.String("api-key-file", "", "send the key in this `file` as Authorization: Bearer (default: $"+envClientKey+" when set)")
}

// logAccess says at start-up who may call the API, without the keys.
func logAccess(log *slog.Logger, o api.Options) {
	if o.Keys == nil {
		log.Info("no API keys: anyone who can reach the server may ingest and delete (see --api-keys)")
	} else {
		log.Info("API keys", "keys", o.Keys.Len(), "search_needs_key", o.RequireSearchKey)
	}
	if o.RateLimit > 0 {
		log.Info("rate limit", "per_second", o.RateLimit)
	}
	if len(o.CORSOrigins) > 0 {
		log.Info("CORS", "origins", strings.Join(o.CORSOrigins, ","))
	}
}
