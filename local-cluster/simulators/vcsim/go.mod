// vcsim-export: govmomi's vCenter simulator with vm-import's ExportVm / NFC lease / Tools behaviour.
module vm-import.local/test/simulators/vcsim

go 1.26.0

require github.com/vmware/govmomi v0.56.0

require (
	github.com/google/uuid v1.6.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
