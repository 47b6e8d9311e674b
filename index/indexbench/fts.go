package indexbench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite with FTS5

	"github.com/picdex/picdex/index/record"
)

// ftsIndex is the relevance baseline: SQLite FTS5 over the fields picdex
// searches by default, ranked by bm25 with picdex's field weights.
type ftsIndex struct {
	db    *sql.DB
	query *sql.Stmt
}

// ftsWeights are index.DefaultFields' boosts, in the table's column order.
const (
	ftsColumns = "title, caption, alt, tags, description"
	ftsWeights = "3.0, 3.0, 2.5, 1.5, 1.0"
)

// openFTS creates the table in a new database at path and loads recs; a
// record's rowid is its position in recs plus one.
func openFTS(ctx context.Context, path string, recs []record.Record) (*ftsIndex, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	f := &ftsIndex{db: db}
	if err := f.load(ctx, recs); err != nil {
		db.Close()
		return nil, err
	}
	f.query, err = db.PrepareContext(ctx,
		"SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, "+ftsWeights+"), rowid LIMIT 10")
	if err != nil {
		db.Close()
		return nil, err
	}
	return f, nil
}

func (f *ftsIndex) load(ctx context.Context, recs []record.Record) error {
	for _, s := range []string{
		"PRAGMA journal_mode=OFF",
		"PRAGMA synchronous=OFF",
		"CREATE VIRTUAL TABLE docs USING fts5(" + ftsColumns + ", tokenize='porter unicode61')",
	} {
		if _, err := f.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("fts5: %s: %w", s, err)
		}
	}
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, "INSERT INTO docs(rowid, "+ftsColumns+") VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := range recs {
		r := &recs[i]
		if _, err := ins.ExecContext(ctx, i+1, r.Title, r.Caption, r.Alt, strings.Join(r.Tags, ", "), r.Description); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = f.db.ExecContext(ctx, "INSERT INTO docs(docs) VALUES ('optimize')")
	return err
}

// ftsAnd is FTS5's default: the quoted words, all required.
func ftsAnd(words []string) string { return ftsJoin(words, " ") }

// ftsOr matches any of the quoted words.
func ftsOr(words []string) string { return ftsJoin(words, " OR ") }

func ftsJoin(words []string, sep string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(q, sep)
}

// search returns the positions in recs of the best ten matches.
func (f *ftsIndex) search(ctx context.Context, match string) ([]int, error) {
	rows, err := f.query.QueryContext(ctx, match)
	if err != nil {
		return nil, fmt.Errorf("fts5 MATCH %q: %w", match, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id-1)
	}
	return out, rows.Err()
}

func (f *ftsIndex) Close() error {
	f.query.Close()
	return f.db.Close()
}
