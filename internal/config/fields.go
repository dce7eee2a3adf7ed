package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Field is one setting of a configuration struct.
type Field struct {
	Env     string // the variable
	Alt     string // an older spelling read when Env is unset
	Default string
	OneOf   []string
	Secret  string // "", "true" or "url"
	Doc     string
	value   reflect.Value
}

// Fields lists the settings of a configuration struct (a pointer to one of the
// role structs), embedded sections first, in declaration order.
func Fields(cfg any) []Field {
	var out []Field
	walk(reflect.ValueOf(cfg).Elem(), &out)
	return out
}

func walk(v reflect.Value, out *[]Field) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			walk(v.Field(i), out)
			continue
		}
		name := sf.Tag.Get("env")
		if name == "" {
			continue
		}
		f := Field{Env: name, Alt: sf.Tag.Get("alt"), Default: sf.Tag.Get("default"),
			Secret: sf.Tag.Get("secret"), Doc: sf.Tag.Get("doc"), value: v.Field(i)}
		if o := sf.Tag.Get("oneof"); o != "" {
			f.OneOf = strings.Split(o, ",")
		}
		*out = append(*out, f)
	}
}

// Fill sets every field of cfg from lookup: the variable when set and not empty,
// else its older spelling, else the tag's default, else the value cfg already
// holds. Every bad value is reported, each naming its variable.
func Fill(cfg any, lookup LookupFunc) error {
	var errs []error
	for _, f := range Fields(cfg) {
		raw, name, ok := f.lookup(lookup)
		if !ok {
			if f.Default == "" {
				continue
			}
			raw, name = f.Default, f.Env+" (default)"
		}
		if err := f.set(raw); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, redact(f, raw), err))
		}
	}
	return errors.Join(errs...)
}

func (f Field) lookup(lookup LookupFunc) (raw, name string, ok bool) {
	for _, n := range []string{f.Env, f.Alt} {
		if n == "" {
			continue
		}
		if v, set := lookup(n); set && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), n, true
		}
	}
	return "", "", false
}

func (f Field) set(raw string) error {
	if len(f.OneOf) > 0 && !slices.Contains(f.OneOf, raw) {
		return fmt.Errorf("want one of %s", strings.Join(f.OneOf, ", "))
	}
	switch f.value.Kind() {
	case reflect.String:
		f.value.SetString(raw)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return errors.New("want a whole number")
		}
		f.value.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("want true or false")
		}
		f.value.SetBool(b)
	case reflect.Slice:
		f.value.Set(reflect.ValueOf(SplitList(raw)))
	default:
		return fmt.Errorf("config field of kind %s is not supported", f.value.Kind())
	}
	return nil
}

// Value is the field's current value for people: secrets are "set (hidden)" or
// "", and a URL secret keeps everything but its password.
func (f Field) Value() string {
	var s string
	switch f.value.Kind() {
	case reflect.Slice:
		s = strings.Join(f.value.Interface().([]string), ",")
	default:
		s = fmt.Sprint(f.value.Interface())
	}
	return redact(f, s)
}

func redact(f Field, s string) string {
	switch {
	case s == "" || f.Secret == "":
		return s
	case f.Secret == "url":
		if u, err := url.Parse(s); err == nil && u.User != nil {
			return u.Redacted()
		}
		if strings.Contains(s, "password=") {
			return "set (hidden: it holds a password)"
		}
		return s
	}
	return "set (hidden)"
}

// SplitList splits a comma-separated setting, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
