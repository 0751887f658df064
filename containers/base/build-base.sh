#!/usr/bin/env bash
# Makes a local Debian bookworm base image for machines that cannot pull from a
# registry, so the Dockerfiles here can be built with
#   --build-arg BASE_IMAGE=onboardcheck/base:bookworm
# It stands in for debian:bookworm-slim: debootstrap minbase, the same apt sources
# (bookworm, -updates, -security) and the same trimming (no docs, man pages, locales or
# apt caches). Does nothing if the tag already exists. Talks to the daemon DOCKER_HOST
# names (see scripts/dockerd). Needs root and debootstrap.
#
#   containers/base/build-base.sh [TAG]
#   ONBOARDCHECK_BASE_IMAGE   the tag when none is given (default onboardcheck/base:bookworm)
#   ONBOARDCHECK_DEBIAN_MIRROR, ONBOARDCHECK_DEBIAN_SECURITY_MIRROR   where packages come from
#   ONBOARDCHECK_BASE_EXTRA_CA   folder of local CA certificates (*.crt) to add; default the
#                                host's /usr/local/share/ca-certificates, empty for none
set -euo pipefail

tag=${1:-${ONBOARDCHECK_BASE_IMAGE:-onboardcheck/base:bookworm}}
suite=bookworm
mirror=${ONBOARDCHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${ONBOARDCHECK_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
extra_ca=${ONBOARDCHECK_BASE_EXTRA_CA-/usr/local/share/ca-certificates}

say() { echo "build-base: $*" >&2; }
die() { say "$*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 ||
  die "no docker daemon at ${DOCKER_HOST:-the default socket}; start one with scripts/dockerd start and eval \"\$(scripts/dockerd env)\""

if docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag already exists, nothing to do"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found (Debian: apt-get install debootstrap)"

# /var/tmp rather than /tmp: a tmpfs /tmp may be small or mounted nodev/noexec.
work=$(mktemp -d "${TMPDIR:-/var/tmp}/onboardcheck-base.XXXXXX")
root=$work/rootfs
cleanup() {
  # A failed debootstrap can leave proc/sys mounted inside the root: unmount before
  # deleting so nothing of the host is touched.
  if [ -d "$root" ]; then
    awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" || true; done
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "debootstrap --variant=minbase $suite from $mirror (log: $work/debootstrap.log while it runs)"
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 25 "$work/debootstrap.log" >&2
  [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 25 "$root/debootstrap/debootstrap.log" >&2
  die "debootstrap failed"
fi

say "trimming to a slim image"
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# As in the official images: no services started by package scripts in a build, no
# package caches or translations kept in layers, no docs/man/locales installed.
cat >"$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "${root:?}/usr/share/man/"* "$root/usr/share/groff/"* "$root/usr/share/info/"* \
  "$root/usr/share/locale/"* "$root/usr/share/lintian/"* \
  "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb \
  "${root:?}/var/log/bootstrap.log" "${root:?}/dev/"*
# docker provides these at run time; the build host's must not end up in the image.
: >"$root/etc/resolv.conf"
echo localhost >"$root/etc/hostname"

# A host behind a TLS-inspecting proxy trusts its CA from here; images built on this
# base need it too to reach PyPI. The ca-certificates package, when an image installs
# it, adds these to the system store.
if [ -n "$extra_ca" ] && [ -d "$extra_ca" ] && [ -n "$(find "$extra_ca" -name '*.crt' -print -quit)" ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -R "$extra_ca/." "$root/usr/local/share/ca-certificates/"
  say "added local CA certificates from $extra_ca: $(cd "$extra_ca" && find . -name '*.crt' | sed 's|^\./||' | tr '\n' ' ' | sed 's/ $//')"
fi

say "importing as $tag"
tar --numeric-owner --xattrs -C "$root" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $suite" \
    - "$tag" >/dev/null
say "done: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
