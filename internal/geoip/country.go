package geoip

import (
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// maxCode bounds what is read of a country value: anything longer is not a
// code, so there is no point allocating it.
const maxCode = 8

// country is a country value in either shape: GeoIP2's map with an iso_code,
// or a bare code string as some flat databases store it. Any other shape,
// or a string too long to be a code, decodes as empty (unknown).
type country string

func (c *country) UnmarshalMaxMindDBCursor(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	kind, err := cur.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	switch kind {
	case mmdbdata.KindString:
		return c.readCode(cur)
	case mmdbdata.KindMap:
		return c.readMap(cur)
	}
	return cur.Skip()
}

func (c *country) readMap(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := cur.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, value, ok := m.Next(next)
		if !ok {
			break
		}
		if string(key) == "iso_code" {
			next, err = c.readCode(value)
		} else {
			next, err = value.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

func (c *country) readCode(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	kind, err := cur.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if kind != mmdbdata.KindString {
		return cur.Skip()
	}
	s, next, err := cur.ReadStringMaxSize(maxCode)
	if err != nil {
		// Too long to be a code: step over it and leave the country unknown.
		return cur.Skip()
	}
	*c = country(s)
	return next, nil
}
