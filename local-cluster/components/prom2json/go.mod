// prom2json from the Prometheus project: reads a metrics page (Prometheus text format) and writes
// JSON. Tests read Knative's delivery metrics with it (local-cluster/runtime/knative/delivery-metrics.ts).
module vm-import.local/components/prom2json

go 1.26.0

tool github.com/prometheus/prom2json/cmd/prom2json

require (
	github.com/alecthomas/kingpin/v2 v2.4.0 // indirect
	github.com/alecthomas/units v0.0.0-20240927000941-0f3dac36c52b // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.4 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.67.1 // indirect
	github.com/prometheus/prom2json v1.5.0 // indirect
	github.com/prometheus/prometheus v0.307.0 // indirect
	github.com/xhit/go-str2duration/v2 v2.1.0 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)
