// Command coredns is CoreDNS with only the plugins the local cluster's DNS
// uses: the upstream binary links every plugin (cloud DNS providers, etcd,
// ...), which costs minutes of build time and megabytes for nothing here.
// Same code and plugin order as upstream (plugin.cfg), fewer plugins.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives keeps upstream's execution order (plugin.cfg) for the plugins above.
var directives = []string{
	"reload", "bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes",
}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
