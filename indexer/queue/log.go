package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// partLog is the append-only file of one partition of a durable Memory
// queue. Each message is a frame:
//
//	uint32 length of the payload | uint32 CRC-32C of the payload | payload
//	payload: int64 offset | int64 produced-at (Unix ns) | uvarint key length | key | value
//
// all big-endian. Appends are fsynced before Publish returns. A frame cut
// short or failing its checksum ends the log: it was being written when
// the process died, so its Publish never returned.
type partLog struct {
	path  string
	f     *os.File
	size  int64
	dirty bool // written since the last fsync
}

// maxFrame bounds one frame's payload when reading, so a corrupt length
// cannot make the reader allocate gigabytes.
const maxFrame = 16 << 20

// compactAt is the size past which a log with acknowledged messages at
// its front is rewritten with only the unacknowledged ones.
var compactAt int64 = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func logPath(dir string, p int) string {
	return filepath.Join(dir, fmt.Sprintf("partition-%03d.log", p))
}

// openLog opens (creating) partition p's log in dir and returns the
// messages it holds, in order; a torn tail is cut off.
func openLog(dir string, p int) (*partLog, []Item, error) {
	path := logPath(dir, p)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	items, good, err := readFrames(f, p)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &partLog{path: path, f: f, size: good}, items, nil
}

// readFrames reads frames from the start of f until its end or the first
// bad frame, and returns the messages and the length of the good part.
func readFrames(f *os.File, p int) ([]Item, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	br := bufio.NewReader(f)
	var items []Item
	var good int64
	var head [8]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return items, good, nil // end, or a torn header
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n < 17 || n > maxFrame {
			return items, good, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return items, good, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(head[4:]) {
			return items, good, nil
		}
		it, ok := decodeFrame(payload, p)
		if !ok || (len(items) > 0 && it.Offset != items[len(items)-1].Offset+1) {
			return items, good, nil
		}
		items = append(items, it)
		good += 8 + int64(n)
	}
}

func decodeFrame(b []byte, p int) (Item, bool) {
	off := int64(binary.BigEndian.Uint64(b[0:8]))
	at := int64(binary.BigEndian.Uint64(b[8:16]))
	klen, k := binary.Uvarint(b[16:])
	if k <= 0 || klen > uint64(len(b)-16-k) {
		return Item{}, false
	}
	rest := b[16+k:]
	return Item{Partition: p, Offset: off, ProducedAt: time.Unix(0, at),
		Key: rest[:klen:klen], Value: rest[klen:]}, true
}

func appendFrame(buf []byte, it Item) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, 8)...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(it.Offset))
	buf = binary.BigEndian.AppendUint64(buf, uint64(it.ProducedAt.UnixNano()))
	buf = binary.AppendUvarint(buf, uint64(len(it.Key)))
	buf = append(buf, it.Key...)
	buf = append(buf, it.Value...)
	payload := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
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
