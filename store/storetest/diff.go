package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// fieldDiff describes how got differs from want, two values of one struct
// type, field by field; "" means equal. Byte slices compare by content (nil
// equals empty) and times with time.Time.Equal (the store may return another
// location); other fields with reflect.DeepEqual. Fields named in skip are
// not compared. Every store record's test compares through it, so a field
// added to a record is compared without anyone remembering to.
func fieldDiff(got, want any, skip ...string) string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Type() != w.Type() || g.Kind() != reflect.Struct {
		panic(fmt.Sprintf("storetest: fieldDiff of %T and %T", got, want))
	}
	var d []string
	for i := range g.NumField() {
		f := g.Type().Field(i)
		if !f.IsExported() || contains(skip, f.Name) {
			continue
		}
		gv, wv := g.Field(i).Interface(), w.Field(i).Interface()
		switch gv := gv.(type) {
		case []byte:
			if wv := wv.([]byte); !bytes.Equal(gv, wv) {
				d = append(d, fmt.Sprintf("%s: got %q, want %q", f.Name, gv, wv))
			}
		case time.Time:
			if wv := wv.(time.Time); !gv.Equal(wv) {
				d = append(d, fmt.Sprintf("%s: got %v, want %v", f.Name, gv, wv))
			}
		default:
			if !reflect.DeepEqual(gv, wv) {
				d = append(d, fmt.Sprintf("%s: got %v, want %v", f.Name, gv, wv))
			}
		}
	}
	return strings.Join(d, "; ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
