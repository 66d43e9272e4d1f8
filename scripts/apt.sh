# Sourced by scripts/bootstrap.sh and scripts/test-tools.sh: Debian packages, installed only where allowed.

# Installs Debian packages when this runs as root with apt-get; otherwise says what to run.
apt_install() {  # apt_install WHAT PACKAGE...
  local what="$1"
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "reclake: installing $what ($*)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@") >/dev/null \
      || { echo "reclake: could not install $*" >&2; return 1; }
  else
    echo "reclake: no root to install $what; to fix: sudo apt-get install $*" >&2
    return 1
  fi
}
