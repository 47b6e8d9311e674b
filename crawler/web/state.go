package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/picdex/picdex/index/record"
)

// stateVersion is the layout of a saved crawl state.
//
//	1: pending requests, the two seen-sets, pages admitted.
const stateVersion = 1

type savedState struct {
	Version  int         `json:"version"`
	Seeds    []string    `json:"seeds"`
	Admitted int         `json:"admitted"`
	Pending  []savedItem `json:"pending"`
	Pages    []byte      `json:"pages"`  // roaring64, portable format
	Images   []byte      `json:"images"` // ditto
}

type savedItem struct {
	Page   string         `json:"page,omitempty"`
	Depth  int            `json:"depth,omitempty"`
	Image  string         `json:"image,omitempty"`
	Record *record.Record `json:"record,omitempty"`
}

// ErrStateMismatch is returned by Restore for a state saved by a crawl
// with other seeds.
var ErrStateMismatch = errors.New("crawl state is from another crawl")

// State is a snapshot of the crawl from which a new Crawler can resume:
// the requests not finished (queued or under way) and the URLs seen.
//
// It is consistent with the records emitted so far: an image marked seen
// in it was emitted before it was taken, and every page or image not yet
// finished is in it. So a caller that flushes its sink after taking the
// state, then saves the state, loses nothing if the process dies; at worst
// a resumed crawl emits again the records of the pages under way.
func (c *Crawler) State() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := savedState{Version: stateVersion, Seeds: c.seedStrings(), Admitted: c.admitted}
	for _, it := range c.front.pending() {
		switch it.kind {
		case kindPage:
			s.Pending = append(s.Pending, savedItem{Page: it.url.String(), Depth: it.depth})
		case kindImage:
			s.Pending = append(s.Pending, savedItem{Image: it.url.String(), Record: it.rec})
		}
	}
	var err error
	if s.Pages, err = c.pages.marshal(); err != nil {
		return nil, err
	}
	if s.Images, err = c.images.marshal(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Restore loads a State saved by a crawl with the same seeds. Call it
// before Crawl, which then continues where that crawl stopped.
func (c *Crawler) Restore(data []byte) error {
	var s savedState
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("crawl state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("crawl state: version %d, this picdex reads %d", s.Version, stateVersion)
	}
	if !slices.Equal(s.Seeds, c.seedStrings()) {
		return fmt.Errorf("%w: it started from %v", ErrStateMismatch, s.Seeds)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.pages.unmarshal(s.Pages); err != nil {
		return fmt.Errorf("crawl state: pages: %w", err)
	}
	if err := c.images.unmarshal(s.Images); err != nil {
		return fmt.Errorf("crawl state: images: %w", err)
	}
	c.admitted = s.Admitted
	for _, p := range s.Pending {
		switch {
		case p.Page != "":
			if u, err := url.Parse(p.Page); err == nil {
				c.front.push(&item{kind: kindPage, url: u, depth: p.Depth})
			}
		case p.Image != "" && p.Record != nil:
			if u, err := url.Parse(p.Image); err == nil {
				c.front.push(&item{kind: kindImage, url: u, rec: p.Record})
			}
		}
	}
	c.restored = true
	return nil
}

func (c *Crawler) seedStrings() []string {
	out := make([]string, len(c.seeds))
	for i, u := range c.seeds {
		out[i] = u.String()
	}
	return out
}
