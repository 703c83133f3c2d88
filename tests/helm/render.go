// render: a minimal "helm template" for tests, for machines without the helm binary.
//
// It renders a chart the way Helm does: Go text/template plus the sprig functions, with Helm's
// own toYaml, fromYaml, toJson/fromJson, include, tpl, required, fail and lookup on top, and the
// .Values, .Release, .Chart, .Capabilities and .Template objects. Values are values.yaml merged
// with -f files and --set pairs, then validated against values.schema.json (the subset of JSON
// Schema draft-07 that charts use: type, enum, const, required, properties, additionalProperties,
// items, minimum, maximum, minLength, maxLength, pattern, $ref to #/definitions).
//
// Build offline on Debian (golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o render render.go
//
// Usage: render [--name RELEASE] [--namespace NS] [-f values.yaml]... [--set a.b=c]... [--set-string a.b=c]...
//
//	[--notes] [--skip-schema-validation] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// ---- values -------------------------------------------------------------------------------

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// mergeInto merges src over dst (maps deep, everything else replaced; null deletes, as in Helm).
func mergeInto(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func parseSetValue(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(s, "0")) {
		return int(i)
	}
	return s
}

func applySet(vals map[string]interface{}, expr string, asString bool) error {
	eq := strings.Index(expr, "=")
	if eq <= 0 {
		return fmt.Errorf("--set %q: expected key=value", expr)
	}
	keys := strings.Split(expr[:eq], ".")
	var val interface{} = expr[eq+1:]
	if !asString {
		val = parseSetValue(expr[eq+1:])
	}
	m := vals
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	last := keys[len(keys)-1]
	if val == nil {
		delete(m, last)
	} else {
		m[last] = val
	}
	return nil
}

// ---- JSON Schema subset -------------------------------------------------------------------

type checker struct {
	root map[string]interface{}
	errs []string
}

func jsonType(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int, int64, uint64:
		return "integer"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case map[string]interface{}:
		return "object"
	case []interface{}:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func toFloat(v interface{}) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func typeMatches(want string, v interface{}) bool {
	got := jsonType(v)
	return got == want || (want == "number" && got == "integer")
}

func (c *checker) fail(path, format string, args ...interface{}) {
	if path == "" {
		path = "(root)"
	}
	c.errs = append(c.errs, fmt.Sprintf("- %s: %s", path, fmt.Sprintf(format, args...)))
}

func quoteList(l []interface{}) string {
	var parts []string
	for _, e := range l {
		b, _ := json.Marshal(e)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, ", ")
}

func (c *checker) check(schema map[string]interface{}, v interface{}, path string) {
	if ref, ok := schema["$ref"].(string); ok {
		const prefix = "#/definitions/"
		defs, _ := c.root["definitions"].(map[string]interface{})
		target, _ := defs[strings.TrimPrefix(ref, prefix)].(map[string]interface{})
		if !strings.HasPrefix(ref, prefix) || target == nil {
			c.fail(path, "schema error: unsupported or unknown $ref %q", ref)
			return
		}
		c.check(target, v, path)
		return
	}
	name := path
	if name == "" {
		name = "(root)"
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch tt := t.(type) {
		case string:
			types = []string{tt}
		case []interface{}:
			for _, e := range tt {
				types = append(types, fmt.Sprint(e))
			}
		}
		matched := false
		for _, want := range types {
			if typeMatches(want, v) {
				matched = true
			}
		}
		if !matched {
			c.fail(path, "Invalid type. Expected: %s, given: %s", strings.Join(types, " or "), jsonType(v))
			return
		}
	}
	if s, ok := v.(string); ok {
		if n, ok := toFloat(schema["minLength"]); ok && float64(len([]rune(s))) < n {
			c.fail(path, "String length must be greater than or equal to %v", n)
		}
		if n, ok := toFloat(schema["maxLength"]); ok && float64(len([]rune(s))) > n {
			c.fail(path, "String length must be less than or equal to %v", n)
		}
		if p, ok := schema["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err != nil {
				c.fail(path, "schema error: bad pattern %q", p)
			} else if !re.MatchString(s) {
				c.fail(path, "Does not match pattern '%s'", p)
			}
		}
	}
	if f, ok := toFloat(v); ok {
		if n, ok := toFloat(schema["minimum"]); ok && f < n {
			c.fail(path, "Must be greater than or equal to %v", n)
		}
		if n, ok := toFloat(schema["maximum"]); ok && f > n {
			c.fail(path, "Must be less than or equal to %v", n)
		}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			if reflect.DeepEqual(normalize(e), normalize(v)) {
				found = true
			}
		}
		if !found {
			given, _ := json.Marshal(v)
			c.fail(path, "%s must be one of the following: %s (given: %s)", name, quoteList(enum), given)
		}
	}
	if cst, ok := schema["const"]; ok && !reflect.DeepEqual(normalize(cst), normalize(v)) {
		c.fail(path, "%s does not match: %v", name, cst)
	}
	if m, ok := v.(map[string]interface{}); ok {
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, present := m[fmt.Sprint(r)]; !present {
					c.fail(path, "%s is required", join(path, fmt.Sprint(r)))
				}
			}
		}
		props, _ := schema["properties"].(map[string]interface{})
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]interface{}); ok {
				c.check(ps, m[k], join(path, k))
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					c.fail(path, "Additional property %s is not allowed", k)
				}
			case map[string]interface{}:
				c.check(ap, m[k], join(path, k))
			}
		}
	}
	if l, ok := v.([]interface{}); ok {
		if items, ok := schema["items"].(map[string]interface{}); ok {
			for i, e := range l {
				c.check(items, e, fmt.Sprintf("%s.%d", name, i))
			}
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// normalize makes YAML and JSON numbers comparable.
func normalize(v interface{}) interface{} {
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

func validate(chartName, schemaPath string, vals map[string]interface{}) error {
	b, err := os.ReadFile(schemaPath)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	var schema map[string]interface{}
	if err := json.Unmarshal(b, &schema); err != nil {
		return fmt.Errorf("%s: %v", schemaPath, err)
	}
	c := &checker{root: schema}
	c.check(schema, vals, "")
	if len(c.errs) > 0 {
		return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
			chartName, strings.Join(c.errs, "\n"))
	}
	return nil
}

// ---- template engine ----------------------------------------------------------------------

type versionSet []string

func (v versionSet) Has(api string) bool {
	for _, x := range v {
		if x == api {
			return true
		}
	}
	return false
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func newEngine() (*template.Template, template.FuncMap) {
	var t *template.Template
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		nt, err := c.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf bytes.Buffer
		if err := nt.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	t = template.New("gotpl").Option("missingkey=zero").Funcs(funcs)
	return t, funcs
}

// cleanErr turns Go's template errors into Helm-like ones: the innermost location and the
// message given to required or fail, without the chain of include calls.
func cleanErr(err error) string {
	s := err.Error()
	re := regexp.MustCompile(`template: ([^:]+:\d+:\d+): executing "[^"]*" at <[^>]*>: error calling (?:required|fail|include|tpl): `)
	all := re.FindAllStringSubmatchIndex(s, -1)
	if all == nil {
		return s
	}
	last := all[len(all)-1]
	return "execution error at (" + s[last[2]:last[3]] + "): " + s[last[1]:]
}

func main() {
	var files, sets, setStrings multi
	release, namespace, chartDir := "release-name", "default", ""
	notes := false
	skipSchema := false
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "Error: %s needs a value\n", a)
				os.Exit(2)
			}
			i++
			return args[i]
		}
		switch a {
		case "-f", "--values":
			files.Set(next())
		case "--set":
			sets.Set(next())
		case "--set-string":
			setStrings.Set(next())
		case "--name":
			release = next()
		case "-n", "--namespace":
			namespace = next()
		case "--notes":
			notes = true
		case "--skip-schema-validation":
			skipSchema = true
		case "-h", "--help":
			fmt.Println("Usage: render [--name RELEASE] [--namespace NS] [-f values.yaml]... [--set a.b=c]... [--set-string a.b=c]... [--notes] [--skip-schema-validation] CHART_DIR")
			return
		default:
			if strings.HasPrefix(a, "-") || chartDir != "" {
				fmt.Fprintf(os.Stderr, "Error: unexpected argument %q\n", a)
				os.Exit(2)
			}
			chartDir = a
		}
	}
	if chartDir == "" {
		fmt.Fprintln(os.Stderr, "Error: no chart directory given")
		os.Exit(2)
	}
	if err := run(chartDir, release, namespace, files, sets, setStrings, notes, skipSchema); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", cleanErr(err))
		os.Exit(1)
	}
}

func run(chartDir, release, namespace string, files, sets, setStrings []string, notes, skipSchema bool) error {
	chartMeta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return errors.New("Chart.yaml: name is required")
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta { // Helm exposes Chart.yaml fields capitalized: .Chart.AppVersion
		if k == "apiVersion" {
			chart["APIVersion"] = v
		}
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	if av, ok := chart["AppVersion"]; ok {
		chart["AppVersion"] = fmt.Sprint(av)
	}
	chart["Version"] = fmt.Sprint(chart["Version"])

	vals := map[string]interface{}{}
	if _, err := os.Stat(filepath.Join(chartDir, "values.yaml")); err == nil {
		if vals, err = readYAMLMap(filepath.Join(chartDir, "values.yaml")); err != nil {
			return err
		}
	}
	for _, f := range files {
		m, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		mergeInto(vals, m)
	}
	for _, s := range sets {
		if err := applySet(vals, s, false); err != nil {
			return err
		}
	}
	for _, s := range setStrings {
		if err := applySet(vals, s, true); err != nil {
			return err
		}
	}
	if skipSchema {
	} else if err := validate(chartName, filepath.Join(chartDir, "values.schema.json"), vals); err != nil {
		return err
	}

	t, _ := newEngine()
	var names []string
	err = filepath.Walk(filepath.Join(chartDir, "templates"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		name := chartName + "/" + filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := t.New(name).Parse(string(b)); err != nil {
			return fmt.Errorf("parse error in %s: %v", name, err)
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)

	caps := map[string]interface{}{
		"KubeVersion": map[string]interface{}{"Version": "v1.28.0", "GitVersion": "v1.28.0", "Major": "1", "Minor": "28"},
		"APIVersions": versionSet{"v1", "apps/v1", "policy/v1", "monitoring.coreos.com/v1"},
		"HelmVersion": map[string]interface{}{"Version": "v3.13.0"},
	}
	rel := map[string]interface{}{
		"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true,
		"IsUpgrade": false, "Revision": 1,
	}
	var out bytes.Buffer
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		isNotes := base == "NOTES.txt"
		data := map[string]interface{}{
			"Values": vals, "Release": rel, "Chart": chart, "Capabilities": caps,
			"Template": map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"},
			"Files":    map[string]interface{}{},
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return err
		}
		s := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(s) == "" || (isNotes && !notes) {
			continue
		}
		if isNotes {
			fmt.Fprintf(os.Stderr, "NOTES:\n%s\n", s)
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.TrimRight(s, "\n"))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
