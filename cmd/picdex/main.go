// Command picdex is the picdex binary: the HTTP API and web UI (serve), bulk
// loading (index), searching from a shell (search) and the synthetic corpus
// generator (gen). Run `picdex --help` for the list of commands and
// `picdex COMMAND --help` for each one's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
)

// command is one subcommand. Each has its own FlagSet, built fresh per run.
type command struct {
	name     string
	synopsis string // one line, for the command list
	usage    string // the usage line, without "picdex "
	help     string // what it does, a few lines
	run      func(ctx context.Context, env *env, args []string) int
}

// env is the process's outside world, so commands never reach for globals.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = []*command{serveCmd, indexCmd, searchCmd, crawlCmd, indexerCmd, shardServerCmd, queryServerCmd, reindexCmd, rollbackCmd, genCmd, benchCmd, loadgenCmd}

func main() {
	gin.SetMode(gin.ReleaseMode)
	// bleve allocates heavily while indexing and searching; trading some
	// memory for half the collections is the right default for a server.
	// An explicit GOGC still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		mainUsage(e.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		mainUsage(e.stdout)
		return 0
	case "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return c.run(ctx, e, []string{"--help"})
			}
			fmt.Fprintf(e.stderr, "picdex help: unknown command %q\n\n", args[1])
			mainUsage(e.stderr)
			return 2
		}
		mainUsage(e.stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "picdex: unknown command %q\n\n", name)
		mainUsage(e.stderr)
		return 2
	}
	return c.run(ctx, e, args[1:])
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage(w io.Writer) {
	fmt.Fprint(w, `picdex is a search service for image metadata.

Usage:
  picdex <command> [flags] [arguments]

Commands:
`)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.name, c.synopsis)
	}
	fmt.Fprint(w, `
Run "picdex <command> --help" for a command's flags.
`)
}

// flags returns a fresh, empty FlagSet for c; the command adds its flags.
func (c *command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("picdex "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	return fs
}

func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: picdex %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		kind, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintf(w, "\n      %s", usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse parses flags, letting them come before, between or after the
// positional arguments (everything after "--" is positional). It handles
// --help and reports errors; ok false means return code.
func (c *command) parse(e *env, fs *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(e.stdout, fs)
			return nil, 0, false
		}
		if err != nil {
			return nil, c.usageError(e, fs, err.Error()), false
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 {
			return positional, 0, true
		}
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), 0, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func (c *command) usageError(e *env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "picdex %s: %s\n\n", c.name, msg)
	c.printUsage(e.stderr, fs)
	return 2
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// commaList is a flag of comma-separated values, repeatable.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }
func (l *commaList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
