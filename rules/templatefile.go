package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// ParseTemplate reads a template written as YAML or JSON (the file of
// `guildhall template apply`, the admin page's text). Unknown fields are
// refused, so a misspelt one is not silently dropped; the result still needs
// ValidateTemplate.
func ParseTemplate(text []byte) (Template, error) {
	var t Template
	if len(bytes.TrimSpace(text)) == 0 {
		return t, fmt.Errorf("the template is empty")
	}
	if err := yaml.UnmarshalStrict(text, &t); err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
		return t, fmt.Errorf("not a template: %s", msg)
	}
	return t, nil
}

// TemplateYAML writes a template as YAML, fields in the order the template
// declares them (name first), for people to read and edit.
func TemplateYAML(t Template) ([]byte, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	// JSON is YAML: decoding it into a node keeps the field order; dropping
	// the JSON styles (flow, quoted) leaves plain block YAML.
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	var plain func(*yamlv3.Node)
	plain = func(n *yamlv3.Node) {
		n.Style = 0
		if n.Kind == yamlv3.ScalarNode && n.Tag == "!!str" {
			switch {
			case strings.Contains(n.Value, "\n"):
				n.Style = yamlv3.LiteralStyle
			case !readsAsString(n.Value):
				n.Style = yamlv3.DoubleQuotedStyle
			}
		}
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	var b bytes.Buffer
	enc := yamlv3.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// readsAsString says whether s written plain is read back as the string s by
// ParseTemplate's YAML 1.1 reader ("yes", "on", "3" are not).
func readsAsString(s string) bool {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return false
	}
	got, ok := v.(string)
	return ok && got == s
}
