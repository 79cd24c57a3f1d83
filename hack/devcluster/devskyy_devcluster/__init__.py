"""A real local Kubernetes cluster for tests and the newcomer's first command.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the node
(kubelet, kube-proxy, CoreDNS, a registry) are built from source
(hack/cluster/build.sh); containerd, runc and the CNI plugins are Debian's. The
node runs our images, built from task_images/ (images.py).
"""
