# Managed by plex: routes to the pod CIDRs of the other nodes of this plex.
set -eu
ip -4 route show root 10.244.0.0/16 | while read -r dst via gw rest; do
	[ "$via" = via ] || continue
	ip route del "$dst" via "$gw" || [ -z "$(ip -4 route show exact "$dst")" ]
done
