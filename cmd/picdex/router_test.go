package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/picdex/picdex/index/record"
	"github.com/picdex/picdex/indexer/cluster"
	"github.com/picdex/picdex/indexer/queue"
)

// TestIndexerRouter: picdex indexer without --data creates generation 1
// with --shards shards on an empty cluster and routes every record to
// its shard log, serving its metrics and readiness.
func TestIndexerRouter(t *testing.T) {
	broker := startKafka(t)
	p, err := queue.NewProducer(context.Background(), queue.KafkaOptions{Brokers: []string{broker}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]record.Record, 50)
	for i := range recs {
		recs[i] = record.Record{URL: fmt.Sprintf("https://example.com/%d.jpg", i)}
	}
	if err := p.Publish(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	p.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(picdexBin, "indexer", "--brokers", broker, "--shards", "3", "--batch-wait", "20ms", "--addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the router to route 50 records", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics") // its listener may not be up yet
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "picdex_indexer_records_routed_total 50\n")
	})
	if code, _ := httpGet(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz %d while routing", code)
	}
	st, err := cluster.Load(context.Background(), []string{broker})
	if err != nil {
		t.Fatal(err)
	}
	g, ok := st.LiveGeneration()
	if !ok || g.ID != 1 || g.Shards != 3 {
		t.Fatalf("live generation %+v (%v), want 1 with 3 shards", g, ok)
	}
	// The 50 records, and the router's mark that each of the 3 records
	// partitions, which the group had no offset for, is read from its
	// start, in each of the 3 shard-log partitions.
	n := topicSize(t, broker, cluster.ShardTopic(1), 3)
	if n != 50+3*3 {
		t.Errorf("%d messages in the shard log, want 50 records and 9 marks", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("router after SIGTERM: %v", err)
	}
}
