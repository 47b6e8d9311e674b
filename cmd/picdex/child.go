package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a picdex process this one starts (a cluster test's or the
// cluster benchmark's), restartable on the same address. It keeps the
// last part of its standard error for reports.
type child struct {
	bin  string
	name string
	args []string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs strings.Builder
	done chan struct{}
}

// childLogBytes is how much of a child's standard error is kept.
const childLogBytes = 1 << 20

func newChild(bin, name, addr string, args ...string) *child {
	return &child{bin: bin, name: name, args: args, addr: addr}
}

// start runs the process; it dies with this one (on Linux).
func (c *child) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := exec.Command(c.bin, c.args...)
	cmd.SysProcAttr = childAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	c.logs.Reset()
	done := c.done
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			if c.logs.Len() > childLogBytes {
				rest := c.logs.String()[childLogBytes/2:]
				c.logs.Reset()
				c.logs.WriteString(rest)
			}
			c.logs.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	return nil
}

// kill stops the process with SIGKILL and waits for it.
func (c *child) kill() { c.signal(syscall.SIGKILL, 0) }

// stop ends the process as an operator would, with SIGTERM, and kills it
// after grace.
func (c *child) stop(grace time.Duration) { c.signal(syscall.SIGTERM, grace) }

// signal sends sig and waits for the process to end, killing it after
// grace unless grace is 0.
func (c *child) signal(sig syscall.Signal, grace time.Duration) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if grace == 0 {
		<-done
		return
	}
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// exited is closed when the process has ended.
func (c *child) exited() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

func (c *child) url(path string) string { return "http://" + c.addr + path }

// waitReady polls the child's /readyz until it answers 200, the child
// exits, ctx ends or within passes.
func (c *child) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		code, _ := getJSON(c.url("/readyz"), nil)
		if code == http.StatusOK {
			return nil
		}
		select {
		case <-c.exited():
			return fmt.Errorf("%s exited before it was ready:\n%s", c.name, tail(c.log(), 3000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s (%s answers %d):\n%s", c.name, within, c.url("/readyz"), code, tail(c.log(), 3000))
		}
	}
}

// loopbackAddr returns a loopback address nothing listens on.
func loopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// getJSON GETs u into v and returns the status (0 when the request failed).
func getJSON(u string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	return doJSON(req, v)
}

// doJSON sends req and decodes a 200 answer into v.
func doJSON(req *http.Request, v any) (int, error) {
	code, b, err := httpDo(req)
	if err != nil {
		return 0, err
	}
	if v != nil && code == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			return code, fmt.Errorf("%w: %.200s", err, b)
		}
	}
	return code, nil
}

// getText GETs u and returns the body of its 200 answer.
func getText(u string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	code, b, err := httpDo(req)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %.200s", u, code, b)
	}
	return string(b), err
}

// httpDo sends req and reads the answer.
func httpDo(req *http.Request) (int, []byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cpu is the CPU time the child has used so far (false when unknown).
func (c *child) cpu() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0, false
	}
	return cpuTime(c.cmd.Process.Pid)
}
