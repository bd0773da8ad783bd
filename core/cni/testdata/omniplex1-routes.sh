# Managed by plex: routes to the pod CIDRs of the other nodes of this plex.
set -eu
ip route replace 10.244.2.0/24 via 10.212.0.12 dev eth0
ip route replace 10.244.3.0/24 via 10.212.0.13 dev eth0
ip -4 route show root 10.244.0.0/16 | while read -r dst via gw rest; do
	[ "$via" = via ] || continue
	case "$dst" in 10.244.2.0/24|10.244.3.0/24) continue ;; esac
	ip route del "$dst" via "$gw" || [ -z "$(ip -4 route show exact "$dst")" ]
done
