# Sourced by the scripts that need pinned Python tools: a venv of their own under target/.
#   venv_install DIR PACKAGE==VERSION...  makes DIR a venv holding exactly those packages,
#                                         unless it already does (DIR/wanted records them).

venv_install() {
  local venv=$1
  shift
  local wanted="$*"
  if [[ "$(cat "$venv/wanted" 2>/dev/null)" != "$wanted" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$wanted" >"$venv/wanted"
  fi
}
