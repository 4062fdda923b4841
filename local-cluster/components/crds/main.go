// crds writes the third-party CRDs the local cluster serves, one file per CRD, into -out (some in a
// folder of their own, see sources.go): those
// the projects ship as YAML in their Go modules (sources.go, read from the module cache) and those
// they generate in code (generated.go, calling their generators).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/template"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	out := flag.String("out", "", "directory to write <crd name>.yaml files into (required)")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("crds: ")
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	written := map[string]string{} // CRD name -> where it came from
	write := func(folder, name, origin string, doc []byte) {
		if prev, dup := written[name]; dup {
			log.Fatalf("%s comes from both %s and %s", name, prev, origin)
		}
		written[name] = origin
		header := fmt.Sprintf("# %s from %s\n", name, origin)
		dir := filepath.Join(*out, folder)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), append([]byte(header), doc...), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	dirs := map[string]string{} // module@version -> its directory in the module cache
	for _, s := range shippedCRDs {
		at := s.module + "@" + s.version
		if dirs[at] == "" {
			dir, err := downloadModule(s.module, s.version, s.sum)
			if err != nil {
				log.Fatal(err)
			}
			dirs[at] = dir
		}
		docs, err := crdDocuments(filepath.Join(dirs[at], s.file), s.helmLabelsTemplate)
		if err != nil {
			log.Fatalf("%s %s: %v", at, s.file, err)
		}
		for _, name := range s.crds {
			doc, ok := docs[name]
			if !ok {
				log.Fatalf("%s %s has no CRD %s", at, s.file, name)
			}
			write(s.folder, name, at+" "+s.file, doc)
		}
	}

	versions := moduleVersions()
	for _, g := range generatedCRDs {
		crd, err := g.make()
		if err != nil {
			log.Fatalf("%s: %v", g.source, err)
		}
		if crd.Name == "" || len(crd.Spec.Versions) == 0 {
			log.Fatalf("%s: the generator returned an empty CRD", g.source)
		}
		doc, err := yaml.Marshal(crd)
		if err != nil {
			log.Fatal(err)
		}
		write("", crd.Name, g.source+"@"+versions[g.source]+" (generated)", doc)
	}
	fmt.Fprintf(os.Stderr, "crds: wrote %d CRDs to %s\n", len(written), *out)
}

// downloadModule puts module@version into the module cache (the go command verifies it against
// the checksum database) and returns its directory, refusing a module whose hash is not sum.
func downloadModule(module, version, sum string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: this is not a dependency of ours
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	var info struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(stdout, &info); jerr != nil || info.Error != "" || err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %v", module, version, err, info.Error, jerr)
	}
	if info.Sum != sum {
		return "", fmt.Errorf("%s@%s has checksum %s, pinned %s", module, version, info.Sum, sum)
	}
	return info.Dir, nil
}

// crdDocuments returns the CRDs of a multi-document YAML file by name, each document as written.
// Every document must be an apiextensions.k8s.io/v1 CRD without unknown fields.
func crdDocuments(path string, helmLabelsTemplate bool) (map[string][]byte, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if helmLabelsTemplate {
		if content, err = renderWithoutChartLabels(content); err != nil {
			return nil, err
		}
	}
	docs := map[string][]byte{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(content)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var crd extv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return nil, err
		}
		if crd.APIVersion != "apiextensions.k8s.io/v1" || crd.Kind != "CustomResourceDefinition" {
			return nil, fmt.Errorf("a %s %s, not a CRD", crd.APIVersion, crd.Kind)
		}
		docs[crd.Name] = doc
	}
}

// renderWithoutChartLabels renders a Helm chart template whose only actions include the chart's
// labels helper (not available here) with Helm's nindent: the labels render empty; any other
// action fails the template.
func renderWithoutChartLabels(content []byte) ([]byte, error) {
	funcs := template.FuncMap{
		"include": func(name string, _ any) (string, error) {
			if !strings.HasSuffix(name, ".labels") {
				return "", fmt.Errorf("template helper %q is not a chart labels helper", name)
			}
			return "", nil
		},
		// sprig's nindent (Helm): a newline, then s indented by n spaces.
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
	}
	tmpl, err := template.New("crds").Option("missingkey=error").Funcs(funcs).Parse(string(content))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func stripComments(doc []byte) []byte {
	var kept [][]byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			kept = append(kept, line)
		}
	}
	return bytes.Join(kept, nil)
}

// moduleVersions are the versions of the modules this program was built with (go.mod).
func moduleVersions() map[string]string {
	versions := map[string]string{}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return versions
	}
	for _, dep := range info.Deps {
		v := dep.Version
		if dep.Replace != nil {
			v = dep.Replace.Version
		}
		versions[dep.Path] = v
	}
	return versions
}
