# Sourced by scripts/test: a real browser for the end-to-end tests of the hosted login page.
#   browser_install  installs Debian's chromium and chromium-driver with apt-get when missing
#                    (as root), and exports TEST_CHROMEDRIVER and TEST_CHROMIUM, which the API
#                    tests start their own ChromeDriver (and through it a headless Chromium) from.

browser_install() {
  if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "chromium or chromedriver not found; install the 'chromium' and 'chromium-driver' packages" >&2
      return 1
    fi
    echo "installing chromium and chromium-driver with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  TEST_CHROMEDRIVER=$(command -v chromedriver)
  TEST_CHROMIUM=$(command -v chromium)
  export TEST_CHROMEDRIVER TEST_CHROMIUM
}
