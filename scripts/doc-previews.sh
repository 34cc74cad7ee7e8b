#!/usr/bin/env bash
# Regenerate the pictures of the documents shown in README.md (docs/img/schede.png and
# docs/img/relazione.png): runs the demo in a temporary folder (its documents' PDF made by
# LibreOffice), finds the page to show by its text and renders it with pdftoppm.
#
#   bash scripts/doc-previews.sh [--dpi N]
#
# Needs pegxl installed in .venv (or PEGXL=/path/to/pegxl), LibreOffice (soffice, with
# Writer) and poppler-utils (pdftoppm, pdftotext): scripts/install-test-deps.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

DPI=75
while [ $# -gt 0 ]; do
    case "$1" in
        --dpi) DPI="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "opzione sconosciuta: $1" >&2; exit 2 ;;
    esac
done

PEGXL="${PEGXL:-.venv/bin/pegxl}"
for tool in pdftoppm pdftotext; do
    command -v "$tool" >/dev/null || { echo "manca $tool: installare poppler-utils (scripts/install-test-deps.sh)" >&2; exit 1; }
done
command -v soffice >/dev/null || [ -n "${PEGXL_SOFFICE:-}" ] ||
    { echo "manca LibreOffice (soffice): installarlo (scripts/install-test-deps.sh)" >&2; exit 1; }
[ -x "$PEGXL" ] || { echo "manca $PEGXL: installare pegxl in .venv (bash scripts/test) o indicare PEGXL=..." >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PEGXL" demo "$WORK/demo" >/dev/null
DOCS="$WORK/demo/documenti"

# the first page whose text has every one of the given lines (fixed strings)
page_with() {
    local pdf="$1"; shift
    local pages n
    pages="$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')"
    for n in $(seq 1 "$pages"); do
        local text ok=1
        text="$(pdftotext -f "$n" -l "$n" -layout "$pdf" -)"
        for want in "$@"; do
            grep -qF -- "$want" <<<"$text" || { ok=0; break; }
        done
        if [ "$ok" = 1 ]; then echo "$n"; return 0; fi
    done
    echo "nessuna pagina di $pdf contiene: $*" >&2
    return 1
}

render() {
    local pdf="$1" page="$2" out="$3"
    mkdir -p "$(dirname "$out")"
    pdftoppm -r "$DPI" -png -f "$page" -l "$page" -singlefile "$pdf" "$WORK/page"
    mv "$WORK/page.png" "$out"
    echo "$out: pagina $page di $(basename "$pdf")"
}

SCHEDE="$DOCS/2024_schede_obiettivo.pdf"
RELAZIONE="$DOCS/2024_relazione_performance.pdf"
# a scheda with phases and indicators; the summary with its chart
render "$SCHEDE" "$(page_with "$SCHEDE" "Finalità e risultati" "Fasi" "Indicatori")" docs/img/schede.png
render "$RELAZIONE" "$(page_with "$RELAZIONE" "2. Sintesi dei risultati")" docs/img/relazione.png
