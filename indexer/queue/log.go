package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// partLog is the append-only file of one partition of a durable Memory
// queue. Each message is a frame:
//
//	uint32 flag and payload length | uint32 CRC-32C of the payload | payload
//
// all big-endian. The top bit of the first word says how the payload reads
// (the other 31 bits are its length):
//
//	set:   int64 offset | int64 produced-at (Unix ns) | uvarint batch |
//	       uvarint n | n × (uvarint partition | uvarint end offset) |
//	       uvarint key length | key | value
//	clear: int64 offset | int64 produced-at (Unix ns) | uvarint key length | key | value
//
// Every frame written now has the bit set; frames without it were written
// before batches were recorded and are read as they always were. batch
// numbers the Publish the message came from; n is 0 except on the last
// frame of a batch in each partition, which lists, for every partition the
// batch touched, the offset one past its last message there — so that a
// restart can tell whether all of the last batch was written (OpenDurable).
//
// Appends are fsynced before Publish returns. A frame cut short or failing
// its checksum ends the log: it was being written when the process died,
// so its Publish never returned.
type partLog struct {
	path  string
	f     *os.File
	size  int64
	dirty bool // written since the last fsync
}

// maxFrame bounds one frame's payload when reading, so a corrupt length
// cannot make the reader allocate gigabytes.
const maxFrame = 16 << 20

// batchFrame is the flag bit of a frame that records its batch; the
// shortest payloads of frames with and without it.
const (
	batchFrame    = 1 << 31
	minBatchFrame = 19
	minPlainFrame = 17
)

// compactAt is the size past which a log with acknowledged messages at
// its front is rewritten with only the unacknowledged ones.
var compactAt int64 = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func logPath(dir string, p int) string {
	return filepath.Join(dir, fmt.Sprintf("partition-%03d.log", p))
}

// openLog opens (creating) partition p's log in dir and returns the
// messages it holds, in order, with the file position of each one's
// frame; a torn tail is cut off.
func openLog(dir string, p int) (*partLog, []Item, []int64, error) {
	path := logPath(dir, p)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, nil, err
	}
	items, at, good, err := readFrames(f, p)
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return &partLog{path: path, f: f, size: good}, items, at, nil
}

// readFrames reads frames from the start of f until its end or the first
// bad frame, and returns the messages, where each frame starts, and the
// length of the good part.
func readFrames(f *os.File, p int) ([]Item, []int64, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, 0, err
	}
	br := bufio.NewReader(f)
	var items []Item
	var at []int64
	var good int64
	var head [8]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return items, at, good, nil // end, or a torn header
		}
		word := binary.BigEndian.Uint32(head[:4])
		batched := word&batchFrame != 0
		n := word &^ batchFrame
		if n < minPlainFrame || (batched && n < minBatchFrame) || n > maxFrame {
			return items, at, good, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return items, at, good, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(head[4:]) {
			return items, at, good, nil
		}
		it, ok := decodeFrame(payload, p, batched)
		if !ok || (len(items) > 0 && it.Offset != items[len(items)-1].Offset+1) {
			return items, at, good, nil
		}
		items = append(items, it)
		at = append(at, good)
		good += 8 + int64(n)
	}
}

func decodeFrame(b []byte, p int, batched bool) (Item, bool) {
	it := Item{Partition: p, Offset: int64(binary.BigEndian.Uint64(b[0:8])),
		ProducedAt: time.Unix(0, int64(binary.BigEndian.Uint64(b[8:16])))}
	rest := b[16:]
	next := func() (uint64, bool) {
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return v, true
	}
	if batched {
		var ok bool
		if it.batch, ok = next(); !ok {
			return Item{}, false
		}
		n, ok := next()
		if !ok || n > uint64(len(rest))/2 { // each end takes two bytes or more
			return Item{}, false
		}
		for range n {
			part, ok1 := next()
			end, ok2 := next()
			if !ok1 || !ok2 || part > math.MaxInt32 || end > math.MaxInt64 {
				return Item{}, false
			}
			it.ends = append(it.ends, partEnd{part: int(part), end: int64(end)})
		}
	}
	klen, ok := next()
	if !ok || klen > uint64(len(rest)) {
		return Item{}, false
	}
	it.Key, it.Value = rest[:klen:klen], rest[klen:]
	return it, true
}

func appendFrame(buf []byte, it Item) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, 8)...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(it.Offset))
	buf = binary.BigEndian.AppendUint64(buf, uint64(it.ProducedAt.UnixNano()))
	buf = binary.AppendUvarint(buf, it.batch)
	buf = binary.AppendUvarint(buf, uint64(len(it.ends)))
	for _, e := range it.ends {
		buf = binary.AppendUvarint(buf, uint64(e.part))
		buf = binary.AppendUvarint(buf, uint64(e.end))
	}
	buf = binary.AppendUvarint(buf, uint64(len(it.Key)))
	buf = append(buf, it.Key...)
	buf = append(buf, it.Value...)
	payload := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], batchFrame|uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// frames encodes items one frame after another.
func frames(items []Item) []byte {
	var buf []byte
	for _, it := range items {
		buf = appendFrame(buf, it)
	}
	return buf
}

// write appends items, to be synced later. On an error the file is cut
// back to where it was, so it never holds a message whose Publish failed.
func (l *partLog) write(items []Item) error {
	buf := frames(items)
	if _, err := l.f.Write(buf); err != nil {
		return errors.Join(err, l.cut(l.size))
	}
	l.size += int64(len(buf))
	l.dirty = true
	return nil
}

func (l *partLog) cut(size int64) error {
	if err := l.f.Truncate(size); err != nil {
		return err
	}
	_, err := l.f.Seek(size, io.SeekStart)
	return err
}

// rewrite replaces the log with just items (the unacknowledged messages):
// written to a new file, synced, and renamed over the old one.
func (l *partLog) rewrite(items []Item) error {
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	buf := frames(items)
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(l.path))
	l.f.Close()
	l.f, l.size, l.dirty = f, int64(len(buf)), false
	return nil
}

// empty cuts the log to nothing: every message in it is acknowledged.
func (l *partLog) empty() error {
	if l.size == 0 {
		return nil
	}
	if err := l.cut(0); err != nil {
		return err
	}
	l.size, l.dirty = 0, false
	return l.f.Sync()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
