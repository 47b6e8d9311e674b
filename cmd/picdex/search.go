package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/picdex/picdex/api"
	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/record"
)

var searchCmd = &command{
	name:     "search",
	synopsis: "search an index, local or through a server",
	usage:    "search [--data DIR | --server URL [--api-key-file FILE]] [--size K] [--from N] [--facet F]... [--json] QUERY...",
	help: `
Search runs QUERY (the words are joined with spaces) against the index in
DIR, or against a running picdex server with --server, and prints the hits:
rank, score, id, title and the caption with matches marked.

With --json it prints exactly the body of the HTTP search response, the same
bytes GET /v1/search answers.

A server that needs a key for searches gets the one in --api-key-file, or
else in $PICDEX_API_KEY, as Authorization: Bearer.

Exit status: 0 on success, 1 when the index or server fails, 2 when the
query or a flag is invalid.`,
}

func init() { searchCmd.run = runSearch }

func runSearch(ctx context.Context, e *env, args []string) int {
	c := searchCmd
	fs := c.flags()
	data := fs.String("data", "./data", "index `directory`")
	server := fs.String("server", "", "base `URL` of a picdex server (e.g. http://127.0.0.1:8080); overrides --data")
	size := fs.Int("size", 10, "number of hits")
	from := fs.Int("from", 0, "offset of the first hit")
	cursor := fs.String("cursor", "", "next_cursor of a previous page")
	asJSON := fs.Bool("json", false, "print the HTTP search response body")
	keyFile := addAPIKeyFileFlag(fs)
	var facets, sorts listFlag
	fs.Var(&facets, "facet", "count values of a `field` (tags, format, camera.make, taken_at, …); repeatable")
	fs.Var(&sorts, "sort", "sort `key` (e.g. -taken_at); repeatable")
	words, code, ok := c.parse(e, fs, args)
	if !ok {
		return code
	}
	req := &index.Request{Query: strings.Join(words, " "), Size: size, From: *from, Cursor: *cursor,
		Facets: facets, Sort: sorts}

	var body []byte
	var err error
	if *server != "" {
		key, kerr := clientKey(e, *keyFile)
		if kerr != nil {
			return c.usageError(e, fs, kerr.Error())
		}
		body, err = searchRemote(ctx, *server, key, req)
	} else {
		body, err = searchLocal(ctx, *data, req)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "picdex search: %v\n", err)
		var re *index.RequestError
		if errors.As(err, &re) || errors.Is(err, index.ErrBadRequest) || errors.As(err, new(*remoteError)) {
			return 2
		}
		return 1
	}
	if *asJSON {
		e.stdout.Write(body)
		if isTerminal(e.stdout) {
			fmt.Fprintln(e.stdout)
		}
		return 0
	}
	var res index.Result
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintf(e.stderr, "picdex search: decoding response: %v\n", err)
		return 1
	}
	printResult(e.stdout, &res, *from, isTerminal(e.stdout))
	return 0
}

func searchLocal(ctx context.Context, dir string, req *index.Request) ([]byte, error) {
	// index.Open creates a missing index; a search must not.
	if !liveExists(dir) {
		return nil, fmt.Errorf("no index in %s (build one with `picdex index`, or use --server)", dir)
	}
	ix, err := openLive(dir, index.Options{})
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("%s is open in another process; if `picdex serve` has it, search with --server", dir)
	}
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	res, err := ix.Search(ctx, req)
	if err != nil {
		return nil, err
	}
	// The same encoding as the API's c.JSON: encoding/json, no newline.
	return json.Marshal(res)
}

// remoteError is an error answer of a picdex server.
type remoteError struct {
	status int
	detail api.ErrorDetail
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.status, e.detail.Code, e.detail.Message)
}

// searchRemote asks a server; key, when set, goes as a bearer key.
func searchRemote(ctx context.Context, server, key string, req *index.Request) ([]byte, error) {
	base, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http:// or https:// URL", server)
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("q", req.Query)
	if req.Size != nil {
		set("size", strconv.Itoa(*req.Size))
	}
	if req.From != 0 {
		set("from", strconv.Itoa(req.From))
	}
	set("cursor", req.Cursor)
	for _, f := range req.Facets {
		q.Add("facet", f)
	}
	for _, s := range req.Sort {
		q.Add("sort", s)
	}
	u := base.JoinPath("/v1/search")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "application/json")
	if key != "" {
		hreq.Header.Set("Authorization", "Bearer "+key)
	}
	return doRemote(hreq, http.StatusOK)
}

// doRemote makes a request of a picdex server and returns the body of
// its answer with status want, or the server's error.
func doRemote(hreq *http.Request, want int) ([]byte, error) {
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		var eb api.ErrorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error.Code == "" {
			return nil, fmt.Errorf("server answered %s", resp.Status)
		}
		if resp.StatusCode >= 500 {
			return nil, fmt.Errorf("server answered %d %s: %s", resp.StatusCode, eb.Error.Code, eb.Error.Message)
		}
		return nil, &remoteError{status: resp.StatusCode, detail: eb.Error}
	}
	return body, nil
}

// printResult writes a readable listing. Highlights arrive HTML-escaped
// with <mark> tags; on a terminal the marks become bold, elsewhere brackets.
func printResult(w io.Writer, res *index.Result, from int, tty bool) {
	fmt.Fprintf(w, "%d results (%d ms)\n", res.Total, res.TookMS)
	if res.Shards.Failed > 0 {
		fmt.Fprintf(w, "warning: %d of %d shards failed\n", res.Shards.Failed, res.Shards.Total)
	}
	open, closeMark := "[", "]"
	if tty {
		open, closeMark = "\x1b[1m", "\x1b[0m"
	}
	// Marks travel as private-use runes through unescaping and cleaning,
	// so record text cannot smuggle its own terminal escapes.
	unmark := func(s string) string {
		s = strings.ReplaceAll(s, "<mark>", "\ue000")
		s = strings.ReplaceAll(s, "</mark>", "\ue001")
		s = oneLine(html.UnescapeString(s))
		return strings.NewReplacer("\ue000", open, "\ue001", closeMark).Replace(s)
	}
	for i, h := range res.Hits {
		var rec record.Record
		_ = json.Unmarshal(h.Image, &rec)
		title := oneLine(rec.Title)
		if hl := h.Highlights["title"]; len(hl) > 0 {
			title = unmark(hl[0])
		}
		if title == "" {
			title = oneLine(rec.URL)
		}
		fmt.Fprintf(w, "\n%3d. %.4f  %s  %s\n", from+i+1, h.Score, oneLine(h.ID), title)
		text := oneLine(rec.Caption)
		if hl := h.Highlights["caption"]; len(hl) > 0 {
			text = unmark(strings.Join(hl, " … "))
		} else if hl := h.Highlights["alt"]; len(hl) > 0 {
			text = unmark(strings.Join(hl, " … "))
		}
		if text != "" {
			fmt.Fprintf(w, "     %s\n", text)
		}
	}
	for _, name := range sortedKeys(res.Facets) {
		fmt.Fprintf(w, "\n%s:", name)
		for _, v := range res.Facets[name] {
			fmt.Fprintf(w, " %s (%d)", oneLine(v.Value), v.Count)
		}
		fmt.Fprintln(w)
	}
	if res.NextCursor != "" {
		fmt.Fprintf(w, "\nnext page: --cursor %s\n", res.NextCursor)
	}
}

// oneLine folds whitespace and drops control characters.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isTerminal reports whether w is a character device, without a
// dependency on a terminal package.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
