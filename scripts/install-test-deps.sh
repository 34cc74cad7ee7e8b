#!/usr/bin/env bash
# Install what the LibreOffice compatibility tests need (tests/lo/driver.py):
#   - soffice (Debian package libreoffice-calc-nogui: Calc without any GUI toolkit)
#   - Writer (libreoffice-writer-nogui): the documents' .docx converted to PDF
#   - Debian's /usr/bin/python3 with the `uno` module (package python3-uno)
#   - pdfinfo, pdftotext, pdftoppm (poppler-utils): the PDF checks (tests/pdfcheck.py) and
#     scripts/doc-previews.sh
#
# Idempotent: does nothing when both are already there.
# As root on Debian/Ubuntu: apt-get update + install (no recommends, no fonts needed).
# Not root (or no apt-get): prints what to install and exits 0; the LibreOffice
# tests then skip (unless PEGXL_REQUIRE_LO=1, which makes them fail instead).
#
# Options:
#   --check    only report; exit 0 when everything is present, 1 otherwise
#   --dry-run  show the apt-get commands without running them
set -euo pipefail

PACKAGES=(libreoffice-calc-nogui libreoffice-writer-nogui python3-uno poppler-utils)
LO_PYTHON="${PEGXL_LO_PYTHON:-/usr/bin/python3}"
MODE=install
for arg in "$@"; do
    case "$arg" in
        --check) MODE=check ;;
        --dry-run) MODE=dry-run ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

have_soffice() { command -v soffice >/dev/null 2>&1; }
# Writer is a module of soffice: its library beside the program (Debian, upstream builds)
have_writer() {
    local prog
    prog="$(readlink -f "$(command -v soffice 2>/dev/null)" 2>/dev/null)" || return 1
    ls "$(dirname "$prog")"/libswlo.* >/dev/null 2>&1 || ls "$(dirname "$prog")"/libsw*.so >/dev/null 2>&1
}
have_poppler() { command -v pdftotext >/dev/null 2>&1 && command -v pdfinfo >/dev/null 2>&1; }
have_uno() {
    [ -x "$LO_PYTHON" ] &&
        env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV "$LO_PYTHON" -c 'import uno' >/dev/null 2>&1
}

missing() {
    local m=()
    have_soffice || m+=("soffice")
    have_writer || m+=("LibreOffice Writer")
    have_uno || m+=("uno module for $LO_PYTHON")
    have_poppler || m+=("pdfinfo/pdftotext (poppler-utils)")
    printf '%s\n' "${m[@]}"
}

report_ok() {
    echo "LibreOffice test dependencies present: $(command -v soffice)," \
         "$("$LO_PYTHON" --version 2>&1) with uno;" \
         "$(soffice --version 2>/dev/null | head -n1 || true)"
}

if have_soffice && have_writer && have_uno && have_poppler; then
    report_ok
    exit 0
fi

echo "Missing for the LibreOffice tests:"
missing | sed 's/^/  - /'

if [ "$MODE" = check ]; then
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "No apt-get here: install LibreOffice Calc and Writer, its Python-UNO bridge and poppler-utils by hand" \
         "(Debian/Ubuntu package names: ${PACKAGES[*]}); the LibreOffice tests will skip."
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Not root: run"
    echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}"
    echo "(or re-run this script as root). The LibreOffice tests will skip meanwhile."
    exit 0
fi

run() {
    echo "+ $*"
    if [ "$MODE" = dry-run ]; then return 0; fi
    "$@"
}

export DEBIAN_FRONTEND=noninteractive
# a fresh container may have no package lists at all; retry once for flaky mirrors
run apt-get update || { sleep 5; run apt-get update; }
run apt-get install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${PACKAGES[@]}"

if [ "$MODE" = dry-run ]; then
    exit 0
fi

hash -r
if have_soffice && have_writer && have_uno && have_poppler; then
    report_ok
else
    echo "Installation finished but still missing:" >&2
    missing | sed 's/^/  - /' >&2
    exit 1
fi
