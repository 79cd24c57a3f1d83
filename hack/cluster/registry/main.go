// Command registry is the CNCF distribution registry with only the
// filesystem storage driver: upstream's cmd/registry also links the S3, GCS
// and Azure SDKs, which a registry on local disk never uses. The registry
// itself (HTTP API, storage, garbage collection) is the same package.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
