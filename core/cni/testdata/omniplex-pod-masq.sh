#!/bin/sh
# Managed by plex: pods keep their addresses toward other pods of this plex and
# leave as the node toward anything else. plex rewrites this file at up.
set -eu
subnet=10.244.0.0/16
ipt() { iptables -w 5 -t nat "$@"; }
ipt -N PLEX-POD-MASQ 2>/dev/null || true
ipt -F PLEX-POD-MASQ
ipt -A PLEX-POD-MASQ -d "$subnet" -j RETURN
ipt -A PLEX-POD-MASQ -d 224.0.0.0/4 -j RETURN
ipt -A PLEX-POD-MASQ -j MASQUERADE
ipt -C POSTROUTING -s "$subnet" -j PLEX-POD-MASQ 2>/dev/null || ipt -A POSTROUTING -s "$subnet" -j PLEX-POD-MASQ
