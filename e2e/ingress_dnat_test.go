package e2e

// --follow-ingress for connections published to addresses the host does
// not hold (README, "Replies by ingress link"): a Kubernetes Service VIP
// announced on no interface (MetalLB L2, externalIPs, kube-vip in ARP mode)
// and DNAT'd by kube-proxy, in its nftables shape or by iptables-nft, to a
// pod behind a bridge: its replies leave by the uplink the connection came
// in on; forwarded traffic without DNAT stays unmarked. The bed is
// ingress_bed_test.go's, with a pod and the VIP routed to HOST by both
// routers.

import (
	"testing"
)

const (
	serviceVIP = "203.0.113.20"
	podAddr    = "10.244.0.2"
)

// kubeProxyNft is kube-proxy's nftables mode in the shape that matters: a
// service chain that marks the packet for masquerade (externalTrafficPolicy
// Cluster, the default) and DNATs the VIP to the pod, and a postrouting
// masquerade of what carries the mark.
const kubeProxyNft = `table ip kube-proxy {
	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 203.0.113.20 tcp dport 80 jump service-vip
	}
	chain service-vip {
		meta mark set meta mark or 0x00004000
		meta l4proto tcp dnat to 10.244.0.2:80
	}
	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x00004000 == 0x00004000 masquerade
	}
}
`

// withPod gives the bed a pod (a namespace behind bridge cni0, which
// symroute leaves alone) serving TCP on :80, the service VIP routed to
// HOST by both routers, and HOST's DNAT of the VIP to the pod by dnat (nft
// or iptables-nft).
func (it *ingressTopo) withPod(t *testing.T, dnat string) {
	t.Helper()
	h := it.host
	pod := h.sibling("pod")
	it.pod = pod
	h.ips(
		"link add cni0 type bridge",
		"addr add 10.244.0.1/24 dev cni0",
		"link set cni0 up",
	)
	veth(t, h, "vethpod", "", pod, "eth0", podAddr+"/24")
	h.ip("link", "set", "vethpod", "master", "cni0")
	pod.ip("route", "add", "default", "via", "10.244.0.1", "dev", "eth0")
	serveTCP(t, pod, "tcp4", "0.0.0.0:80")
	it.r1.ip("route", "add", serviceVIP+"/32", "via", "10.0.0.2")
	it.r2.ip("route", "add", serviceVIP+"/32", "via", "192.168.0.2")
	it.r1.ip("route", "add", "10.244.0.0/24", "via", "10.0.0.2")
	switch dnat {
	case "nftables":
		h.nft(kubeProxyNft)
	case "iptables-nft":
		h.run("", "iptables", "-t", "nat", "-A", "PREROUTING", "-d", serviceVIP+"/32", "-p", "tcp", "--dport", "80",
			"-j", "DNAT", "--to-destination", podAddr+":80")
	}
}

// A VIP on no interface, DNAT'd to a pod, answers through either uplink
// with the option, its conntrack entry carrying the uplink's value; without
// it, the answer to a request through R2 leaves by main's default, em1, and
// CLIENT's strict filter drops it (the bed's own sanity check).
func TestIngressDNATVIP(t *testing.T) {
	t.Parallel()
	requireRootWith(t, "iptables", "iptables")
	for _, dnat := range []string{"nftables", "iptables-nft"} {
		dnat := dnat
		t.Run(dnat, func(t *testing.T) {
			t.Parallel()
			it := newIngressTopo(t, 1)
			it.withPod(t, dnat)
			h, c := it.host, it.client
			addr := hostPort(serviceVIP, 80)

			h.pass()
			it.via(serviceVIP, "R1")
			mustTransfer(t, c, "", addr) // main's default is em1's: the bed works
			it.via(serviceVIP, "R2")
			mustNotTransfer(t, c, addr)

			v := it.on()
			for _, router := range []string{"R1", "R2"} {
				it.via(serviceVIP, router)
				e := it.exchange(t, addr)
				if want := v[ingressLinkOf[router]]; e.mark&ingressMask != want {
					t.Errorf("%s: conntrack mark of the connection to the VIP through %s: want %#x, got %#x\n%s",
						dnat, router, want, e.mark, e.line)
				}
			}
			assertInSync(t, h, "--follow-ingress")
		})
	}
}

// Traffic the host only forwards, with no DNAT (CLIENT to the pod's own
// address through R1), is left alone: its conntrack entry carries no value.
func TestIngressForwardNoDNATUnmarked(t *testing.T) {
	t.Parallel()
	it := newIngressTopo(t, 1)
	it.withPod(t, "")
	it.on()
	it.client.ip("route", "replace", "10.244.0.0/24", "via", viaRouter["R1"])
	e := it.exchange(t, hostPort(podAddr, 80))
	if e.mark&ingressMask != 0 {
		t.Errorf("a connection HOST only forwards carries %#x in its conntrack mark:\n%s", e.mark, e.line)
	}
}
