# crun refuses a hybrid cgroup layout whose unified (v2) hierarchy still holds controllers
# ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"). On these
# machines the one left there is hugetlb: bind each such controller to a v1 hierarchy of its own,
# which takes it out of the unified one. Sourced by scripts/setup.sh; tests run it against a
# prepared mounts table in a mount namespace of their own.

# The unified hierarchy's mount point in a hybrid layout (empty on pure v1 or pure v2).
unified_hierarchy() {  # [mounts table]
  local mounts=${1:-/proc/self/mounts} unified
  unified=$(awk '$3 == "cgroup2" {print $2; exit}' "$mounts")
  [ -n "$unified" ] && [ "$unified" != "${2:-/sys/fs/cgroup}" ] && echo "$unified"
  return 0
}

# The controllers the unified hierarchy holds. cgroupfs files report size 0 to stat whatever
# they hold, so this reads the content: a `[ -s ]` test would always say "empty".
unified_controllers() {  # [mounts table] [v1 root]
  local unified
  unified=$(unified_hierarchy "$@")
  [ -n "$unified" ] && [ -r "$unified/cgroup.controllers" ] || return 0
  cat "$unified/cgroup.controllers"
}

# Move every controller out of the unified hierarchy; returns non-zero (and says which) if one
# stays there.
release_unified_controllers() {  # [mounts table] [v1 root]
  local root=${2:-/sys/fs/cgroup} controller failed=()
  for controller in $(unified_controllers "$@"); do
    mkdir -p "$root/$controller"
    mount -t cgroup -o "$controller" cgroup "$root/$controller" 2>/dev/null \
      || failed+=("$controller")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "cannot bind the cgroup controller(s) ${failed[*]} to a v1 hierarchy under $root" >&2
    return 1
  fi
}
