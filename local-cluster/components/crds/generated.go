package main

import (
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	cdi "kubevirt.io/containerized-data-importer/pkg/operator/resources"
	kubevirt "kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
)

// generatedCRDs are the CRDs projects define in code, as their operators install them: KubeVirt's
// virt-operator install strategy calls these components functions; CDI's operator decodes the
// CRDs its crd-generator wrote into resources.CDICRDs (cluster.NewDataVolumeCrd; that package
// is not imported because it needs a github.com/openshift/api four years newer than the one
// KubeVirt's replace lines pin). The versions are go.mod's.
var generatedCRDs = []generated{
	{source: "kubevirt.io/kubevirt", make: kubevirt.NewVirtualMachineCrd},
	{source: "kubevirt.io/kubevirt", make: kubevirt.NewVirtualMachineInstanceCrd},
	{source: "kubevirt.io/containerized-data-importer", make: func() (*extv1.CustomResourceDefinition, error) {
		return cdiCrd("datavolume")
	}},
}

type generated struct {
	source string // the module whose generator this is
	make   func() (*extv1.CustomResourceDefinition, error)
}

// cdiCrd decodes one of CDI's generated CRDs like its operator does
// (pkg/operator/resources/cluster/datavolume.go, createDataVolumeCRD).
func cdiCrd(key string) (*extv1.CustomResourceDefinition, error) {
	crd := &extv1.CustomResourceDefinition{}
	err := utilyaml.NewYAMLToJSONDecoder(strings.NewReader(cdi.CDICRDs[key])).Decode(crd)
	return crd, err
}
