"""A real local Kubernetes control plane for tests and the newcomer's first command.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from
Go modules (hack/cluster/build.sh); the node agent runs pods as local processes.
"""
