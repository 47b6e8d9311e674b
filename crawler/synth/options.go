package synth

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidOptions is wrapped by every error Options.Validate returns.
var ErrInvalidOptions = errors.New("synth: invalid options")

// Default shares, chosen to resemble a general web image crawl.
const (
	DefaultKoreanShare   = 0.08
	DefaultCJKShare      = 0.02
	DefaultCameraShare   = 0.60
	DefaultTakenAtShare  = 0.75
	DefaultLocationShare = 0.35
	DefaultPHashShare    = 0.70
	DefaultNearDupShare  = 0.10
)

// Options describe a corpus. The same Options always produce the same
// records, byte for byte.
//
// A share is the fraction of records with that property. A zero share takes
// the default; a negative share means none, so KoreanShare: -1 gives an
// English/CJK-only corpus.
type Options struct {
	// N is the number of records. Zero gives an empty corpus.
	N int
	// Seed selects the corpus. Record i depends only on (Seed, i).
	Seed int64

	KoreanShare   float64 // records with Korean text (default 0.08)
	CJKShare      float64 // records with Japanese or Chinese text (default 0.02)
	CameraShare   float64 // records with camera EXIF (default 0.60)
	TakenAtShare  float64 // records with a capture time (default 0.75)
	LocationShare float64 // records with a GPS location (default 0.35)
	PHashShare    float64 // records with a perceptual hash (default 0.70)
	// NearDupShare is the fraction of hashed records that are near-duplicates
	// of an earlier record: its hash with 1–8 bits flipped and similar text
	// (default 0.10).
	NearDupShare float64
}

// Validate reports the first problem with o, wrapping ErrInvalidOptions.
func (o Options) Validate() error {
	if o.N < 0 {
		return fmt.Errorf("%w: N is %d, must not be negative", ErrInvalidOptions, o.N)
	}
	for _, s := range o.shares() {
		if math.IsNaN(*s.v) || *s.v > 1 {
			return fmt.Errorf("%w: %s is %v, must be at most 1", ErrInvalidOptions, s.name, *s.v)
		}
	}
	d := o.withDefaults()
	if d.KoreanShare+d.CJKShare > 1 {
		return fmt.Errorf("%w: KoreanShare + CJKShare is %v, must be at most 1",
			ErrInvalidOptions, d.KoreanShare+d.CJKShare)
	}
	return nil
}

type share struct {
	name string
	v    *float64
	def  float64
}

func (o *Options) shares() []share {
	return []share{
		{"KoreanShare", &o.KoreanShare, DefaultKoreanShare},
		{"CJKShare", &o.CJKShare, DefaultCJKShare},
		{"CameraShare", &o.CameraShare, DefaultCameraShare},
		{"TakenAtShare", &o.TakenAtShare, DefaultTakenAtShare},
		{"LocationShare", &o.LocationShare, DefaultLocationShare},
		{"PHashShare", &o.PHashShare, DefaultPHashShare},
		{"NearDupShare", &o.NearDupShare, DefaultNearDupShare},
	}
}

// withDefaults resolves zero shares to their defaults and negative ones to 0.
func (o Options) withDefaults() Options {
	for _, s := range o.shares() {
		switch {
		case *s.v == 0:
			*s.v = s.def
		case *s.v < 0:
			*s.v = 0
		}
	}
	return o
}
