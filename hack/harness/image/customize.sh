#!/bin/sh
# Runs inside the freshly debootstrapped rootfs (chroot), after the files
# under rootfs/ were copied in. Turns it into an Incus system-container image.
set -eu

systemctl enable systemd-networkd.service systemd-resolved.service ssh.service

# Name resolution through resolved, which learns the bridge's DNS from DHCP.
# debootstrap may have left the build host's resolv.conf here.
rm -f /etc/resolv.conf
ln -s ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf

# Incus renders the cloud-init seeds here from the image templates.
mkdir -p /var/lib/cloud/seed/nocloud-net

# Per-instance identity is made at first boot.
rm -f /etc/hostname /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* \
  /var/cache/debconf/*-old /var/lib/dpkg/*-old /tmp/* /var/tmp/*
