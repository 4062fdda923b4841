package main

// shippedCRDs are the CRDs projects ship as YAML in their Go modules, each module pinned by version
// and by its checksum (the h1: hash go.sum would hold). They stay out of go.mod: nothing here
// imports their packages, and their requirements must not move the versions the generators
// (generated.go) are built with.
var shippedCRDs = []shipped{
	{
		// Harvester's CRD chart (the Harvester release vm-import targets).
		module: "github.com/harvester/harvester", version: "v1.8.2",
		sum:  "h1:wU1HUyDI9KswxDrEPtkPvh+s+OhdPADlwiR473lZkHc=",
		file: "deploy/charts/harvester-crd/templates/harvesterhci.io_virtualmachineimages.yaml",
		crds: []string{"virtualmachineimages.harvesterhci.io"},
	},
	{
		// Knative Serving 1.24 (module v0.N is release 1.(N-27)).
		module: "knative.dev/serving", version: "v0.51.0",
		sum:  "h1:yN2Q7eYqJgoPfZkATjoBZyGbZ2P1Qhns9HIMU4mF+to=",
		file: "config/core/300-resources/service.yaml",
		crds: []string{"services.serving.knative.dev"},
	},
	{
		// Multus' NetworkAttachmentDefinition.
		module: "github.com/k8snetworkplumbingwg/network-attachment-definition-client", version: "v1.7.7",
		sum:  "h1:z4P744DR+PIpkjwXSEc6TvN3L6LVzmUquFgmNm8wSUc=",
		file: "artifacts/networks-crd.yaml",
		crds: []string{"network-attachment-definitions.k8s.cni.cncf.io"},
	},
	{
		// Longhorn, Harvester's storage. In their own folder: a cluster without Longhorn must not
		// seem to have it (preflight's capacity check reads nodes.longhorn.io when served), so only
		// tests that play Longhorn's node controller apply them.
		module: "github.com/longhorn/longhorn-manager", version: "v1.12.0", folder: "longhorn",
		sum:  "h1:XJNQSH1M7P5ot+YoTtpKHTYW3yXNeFLTWbR1My/vs3c=",
		file: "k8s/crds.yaml",
		crds: []string{"nodes.longhorn.io", "volumes.longhorn.io", "backingimages.longhorn.io", "settings.longhorn.io"},
		// The file is the longhorn chart's template: its only template action is
		// `labels: {{- include "longhorn.labels" . | nindent 4 }}`; that helper lives in the
		// chart (github.com/longhorn/longhorn, not a module the proxy serves), so it renders empty.
		helmLabelsTemplate: true,
	},
}

// shipped is one YAML file of a module; crds are the metadata.names taken from it.
type shipped struct {
	module, version, sum, file string
	crds                       []string
	helmLabelsTemplate         bool
	folder                     string // below -out; "" = -out itself
}
