package index

import (
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/picdex/picdex/index/record"
)

// MappingVersion identifies the index layout: analyzers, fields and their
// options. Every shard stores the version it was built with, and Open
// refuses a shard with another version, asking for a reindex.
//
// Changelog:
//
//	1: first layout (text fields with CJK bigrams and English snowball
//	   stemming, keyword facets, numeric/date/geo fields, stored _raw record).
//	2: text fields cut the "es" of plurals after a sibilant before
//	   stemming (buses → bus, boxes → box; see inflectFilterName).
const MappingVersion = 2

// Analyzer names registered in the mapping.
const (
	textAnalyzer    = "picdex_text"       // unicode words, CJK bigrams, lower case, English stop words and stemming
	lowerKWAnalyzer = "picdex_keyword_lc" // the whole value as one lower-cased term
)

// Field names in the index. Text fields are what a bare query searches.
const (
	fieldTitle       = "title"
	fieldCaption     = "caption"
	fieldAlt         = "alt"
	fieldDescription = "description"
	fieldTagsText    = "tags_text"
	fieldCreator     = "creator"
	fieldTags        = "tags"
	fieldFormat      = "format"
	fieldSource      = "source"
	fieldLicense     = "license"
	fieldColors      = "colors"
	fieldMake        = "camera.make"
	fieldModel       = "camera.model"
	fieldLens        = "camera.lens"
	fieldISO         = "camera.iso"
	fieldFNumber     = "camera.f_number"
	fieldFocal       = "camera.focal_length_mm"
	fieldExposure    = "camera.exposure_s"
	fieldWidth       = "width"
	fieldHeight      = "height"
	fieldBytes       = "bytes"
	fieldTakenAt     = "taken_at"
	// fieldTakenAtSort holds taken_at as one compact number (Unix seconds)
	// with doc values, for sorting and the date facet. taken_at itself is
	// indexed as a multi-precision number (16 range terms per value) but
	// without doc values: visiting those 16 terms per document made date
	// facets and sorts the slowest part of a faceted search.
	fieldTakenAtSort = "taken_at_sort"
	fieldLocation    = "location"
	fieldPHash       = "phash"
	fieldRaw         = "_raw"
)

// DefaultFields are searched by a query term without a field, with these
// boosts: what a person sees next to the image (title, caption, alt) counts
// more than the longer description and the tags.
var DefaultFields = []WeightedField{
	{fieldTitle, 3.0},
	{fieldCaption, 3.0},
	{fieldAlt, 2.5},
	{fieldTagsText, 1.5},
	{fieldDescription, 1.0},
}

// WeightedField is a text field and its boost in the default search.
type WeightedField struct {
	Name  string
	Boost float64
}

type fieldKind int

const (
	kindText fieldKind = iota
	kindKeyword
	kindKeywordLower
	kindNumber // one order-preserving term per value; see numberTerm
	kindDate
	kindGeo
)

// fieldSpec is one indexed field: how it is analyzed and what is kept.
type fieldSpec struct {
	kind    fieldKind
	options bindex.FieldIndexingOptions
}

const (
	optText      = bindex.IndexField | bindex.IncludeTermVectors
	optTextPlain = bindex.IndexField
	optFacet     = bindex.IndexField | bindex.DocValues
	optIndexOnly = bindex.IndexField
)

// schema lists every field the index knows; query translation uses it to
// reject unknown fields and to pick numeric or date ranges.
var schema = map[string]fieldSpec{
	fieldTitle:       {kindText, optText},
	fieldCaption:     {kindText, optText},
	fieldAlt:         {kindText, optText},
	fieldDescription: {kindText, optText},
	fieldTagsText:    {kindText, optText},
	fieldCreator:     {kindText, optTextPlain},
	fieldLens:        {kindText, optTextPlain},
	fieldTags:        {kindKeyword, optFacet},
	fieldFormat:      {kindKeyword, optFacet},
	fieldSource:      {kindKeyword, optFacet},
	fieldLicense:     {kindKeyword, optFacet},
	fieldColors:      {kindKeyword, optFacet},
	fieldPHash:       {kindKeyword, optIndexOnly},
	fieldMake:        {kindKeywordLower, optFacet},
	fieldModel:       {kindKeywordLower, optFacet},
	fieldISO:         {kindNumber, optFacet},
	fieldFNumber:     {kindNumber, optFacet},
	fieldFocal:       {kindNumber, optFacet},
	fieldExposure:    {kindNumber, optFacet},
	fieldWidth:       {kindNumber, optFacet},
	fieldHeight:      {kindNumber, optFacet},
	fieldBytes:       {kindNumber, optFacet},
	fieldTakenAt:     {kindDate, optIndexOnly},
	fieldTakenAtSort: {kindNumber, optFacet},
	fieldLocation:    {kindGeo, optFacet},
}

// fieldAliases lets queries use the names people expect.
var fieldAliases = map[string]string{
	"tag":   fieldTags,
	"make":  fieldMake,
	"model": fieldModel,
	"lens":  fieldLens,
	"iso":   fieldISO,
	"color": fieldColors,
}

// resolveOrderField is resolveField for sorting and faceting, which read
// doc values: taken_at is read from its compact twin.
func resolveOrderField(name string) (string, fieldSpec, bool) {
	field, spec, ok := resolveField(name)
	if field == fieldTakenAt {
		return fieldTakenAtSort, fieldSpec{kind: kindDate, options: schema[fieldTakenAtSort].options}, ok
	}
	return field, spec, ok
}

func resolveField(name string) (string, fieldSpec, bool) {
	if a, ok := fieldAliases[name]; ok {
		name = a
	}
	spec, ok := schema[name]
	return name, spec, ok
}

// newMapping builds the bleve mapping. Documents are not mapped through it
// (toDocument builds them directly, which avoids bleve's reflection walk),
// but queries use it to find each field's analyzer and type, so both must
// agree; TestMappingMatchesDocuments checks that they do.
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := mapping.NewIndexMapping()
	m.ScoringModel = bindex.BM25Scoring
	if err := m.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":      custom.Name,
		"tokenizer": unicode.Name,
		"token_filters": []any{
			cjk.WidthName, lowercase.Name, hangulFilterName, cjk.BigramName,
			en.PossessiveName, en.StopName, inflectFilterName, en.SnowballStemmerName,
		},
	}); err != nil {
		return nil, err
	}
	if err := m.AddCustomAnalyzer(lowerKWAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     single.Name,
		"token_filters": []any{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = textAnalyzer
	m.DefaultField = fieldCaption
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false

	root := mapping.NewDocumentStaticMapping()
	docs := map[string]*mapping.DocumentMapping{"": root}
	for name, spec := range schema {
		parent, leaf := root, name
		if i := indexByte(name, '.'); i >= 0 {
			sub := docs[name[:i]]
			if sub == nil {
				sub = mapping.NewDocumentStaticMapping()
				docs[name[:i]] = sub
				root.AddSubDocumentMapping(name[:i], sub)
			}
			parent, leaf = sub, name[i+1:]
		}
		parent.AddFieldMappingsAt(leaf, fieldMapping(spec))
	}
	raw := mapping.NewTextFieldMapping()
	raw.Index = false
	raw.Store = true
	raw.IncludeInAll = false
	raw.IncludeTermVectors = false
	raw.DocValues = false
	root.AddFieldMappingsAt(fieldRaw, raw)
	m.DefaultMapping = root
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func fieldMapping(spec fieldSpec) *mapping.FieldMapping {
	var fm *mapping.FieldMapping
	switch spec.kind {
	case kindText:
		fm = mapping.NewTextFieldMapping()
		fm.Analyzer = textAnalyzer
	case kindKeyword:
		fm = mapping.NewKeywordFieldMapping()
	case kindKeywordLower:
		fm = mapping.NewTextFieldMapping()
		fm.Analyzer = lowerKWAnalyzer
	case kindNumber:
		// Indexed as a single prefix-coded term (numberTerm), so to bleve
		// it is a keyword field whose doc values decode as numbers.
		fm = mapping.NewKeywordFieldMapping()
	case kindDate:
		// Unix seconds with bleve's multi-precision numeric terms, for
		// fast ranges over any year (bleve's date type stops at 1677).
		fm = mapping.NewNumericFieldMapping()
	case kindGeo:
		fm = mapping.NewGeoPointFieldMapping()
	}
	fm.Store = false
	fm.IncludeInAll = false
	fm.Index = spec.options.IsIndexed()
	fm.IncludeTermVectors = spec.options.IncludeTermVectors()
	fm.DocValues = spec.options.IncludeDocValues()
	return fm
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// analyzers resolved once per shard from the mapping's cache.
type analyzers struct {
	text, keyword, lowerKW analysis.Analyzer
}

func loadAnalyzers(m *mapping.IndexMappingImpl) (analyzers, error) {
	var a analyzers
	a.text = m.AnalyzerNamed(textAnalyzer)
	a.keyword = m.AnalyzerNamed(keyword.Name)
	a.lowerKW = m.AnalyzerNamed(lowerKWAnalyzer)
	if a.text == nil || a.keyword == nil || a.lowerKW == nil {
		return a, fmt.Errorf("index mapping: analyzers missing")
	}
	return a, nil
}

// toDocument turns a normalized record into a bleve document without going
// through reflection. raw is the record's JSON, stored once.
func toDocument(r *record.Record, raw []byte, a analyzers) *document.Document {
	d := document.NewDocument(r.ID)
	text := func(name, v string) {
		if v != "" {
			d.AddField(document.NewTextFieldCustom(name, nil, []byte(v), schema[name].options, a.text))
		}
	}
	kw := func(name, v string, an analysis.Analyzer) {
		if v != "" {
			d.AddField(document.NewTextFieldCustom(name, nil, []byte(v), schema[name].options, an))
		}
	}
	num := func(name string, v float64) {
		d.AddField(document.NewTextFieldCustom(name, nil, numberTerm(v), schema[name].options, a.keyword))
	}
	text(fieldTitle, r.Title)
	text(fieldCaption, r.Caption)
	text(fieldAlt, r.Alt)
	text(fieldDescription, r.Description)
	text(fieldCreator, r.Creator)
	for i, t := range r.Tags {
		pos := []uint64{uint64(i)}
		d.AddField(document.NewTextFieldCustom(fieldTags, pos, []byte(t), schema[fieldTags].options, a.keyword))
		d.AddField(document.NewTextFieldCustom(fieldTagsText, pos, []byte(t), schema[fieldTagsText].options, a.text))
	}
	kw(fieldFormat, r.Format, a.keyword)
	kw(fieldSource, r.Source, a.keyword)
	kw(fieldLicense, r.License, a.keyword)
	kw(fieldPHash, r.PHash, a.keyword)
	for i, c := range r.Colors {
		d.AddField(document.NewTextFieldCustom(fieldColors, []uint64{uint64(i)}, []byte(c), schema[fieldColors].options, a.keyword))
	}
	if c := r.Camera; c != nil {
		kw(fieldMake, c.Make, a.lowerKW)
		kw(fieldModel, c.Model, a.lowerKW)
		text(fieldLens, c.Lens)
		if c.ISO != nil {
			num(fieldISO, float64(*c.ISO))
		}
		if c.FNumber != nil {
			num(fieldFNumber, *c.FNumber)
		}
		if c.FocalLengthMM != nil {
			num(fieldFocal, *c.FocalLengthMM)
		}
		if c.ExposureS != nil {
			num(fieldExposure, *c.ExposureS)
		}
	}
	if r.Width > 0 {
		num(fieldWidth, float64(r.Width))
	}
	if r.Height > 0 {
		num(fieldHeight, float64(r.Height))
	}
	if r.Bytes > 0 {
		num(fieldBytes, float64(r.Bytes))
	}
	if r.TakenAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, r.TakenAt); err == nil {
			secs := unixSeconds(t)
			d.AddField(document.NewNumericFieldWithIndexingOptions(fieldTakenAt, nil, secs, schema[fieldTakenAt].options))
			num(fieldTakenAtSort, secs)
		}
	}
	if l := r.Location; l != nil {
		d.AddField(document.NewGeoPointFieldWithIndexingOptions(fieldLocation, nil, l.Lon, l.Lat, schema[fieldLocation].options))
	}
	d.AddField(document.NewTextFieldWithIndexingOptions(fieldRaw, nil, raw, bindex.StoreField))
	return d
}

// numberTerm encodes a number as the one term indexed for it: bleve's
// prefix coding at shift 0, whose byte order is numeric order and whose doc
// values bleve's numeric sorts and range facets decode. bleve's own numeric
// fields also index 15 coarser terms per value to speed up wide ranges;
// picdex's numeric fields (sizes, camera settings) have few distinct values,
// where a range is a short term-range scan, and those extra terms were the
// largest single cost of indexing.
func numberTerm(v float64) []byte {
	return numeric.MustNewPrefixCodedInt64(numeric.Float64ToInt64(v), 0)
}

// unixSeconds is exact to the second for any year (UnixNano overflows
// before 1678, and artworks are older than that).
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
