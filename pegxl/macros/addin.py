"""`pegxl excel addin`: build `pegxl.xlam`, the ribbon add-in of the central office.

The add-in is the ribbon add-in that xlwings itself ships (`quickstart_addin_ribbon.xlam`
inside the installed xlwings package, the file `xlwings quickstart NAME --addin --ribbon`
copies), changed the way xlwings' own documentation ("Custom Add-ins", "Renaming your
add-in") tells a person to change it by hand in the VBA editor and the RibbonX editor:

- its ribbon XML (`customUI/customUI.xml`) becomes an Italian `pegxl` tab, one button per
  action of `pegxl.macros.actions`;
- its VBA: the `PROJECT_NAME` constant of the `xlwings` module becomes `pegxl` (so the
  configuration lives in the add-in's `pegxl.conf` sheet or in `%USERPROFILE%\\.pegxl\\
  pegxl.conf`), the VBA project is named `pegxl`, and the `RibbonMyAddin` module gets the
  one ribbon callback every button calls, `PegxlAction`;
- its configuration sheet `_myaddin.conf` becomes `pegxl.conf` holding the Python
  interpreter to run (the one that built the add-in), or `_pegxl.conf` (inactive) when
  none is known.

Why one generic callback: the shipped template has exactly one callback,
`RibbonMyAddin.RunMain(control)`, which ignores the pressed control and runs
`import <add-in file name>; <add-in file name>.main()`. Every button wired to it would run
the same function. `PegxlAction` hands the button's id to Python instead::

    RunPython "import pegxl.macros.actions as a; a.dispatch('" & control.Id & "')"

and `pegxl.macros.actions.dispatch` maps the id to its function (`BUTTONS`).

The VBA project of the template is "source only" (its `_VBA_PROJECT` stream has version
0xFFFF and no compiled cache): Excel compiles the modules from their source when it opens
the add-in, so changing the source is all it takes. Source is stored compressed
(MS-OVBA 2.4.1) in an OLE compound file (MS-CFB); both are implemented here (small, no
dependency), together with the reader the tests use to check that every `onAction` names
a procedure that exists.
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import importlib.util
import io
import math
import re
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from xml.etree import ElementTree as ET

from ..errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from ..workbook.io import atomic_write_bytes
from .actions import BUTTONS

ADDIN_NAME = "pegxl.xlam"
TEMPLATE_NAME = "quickstart_addin_ribbon.xlam"
PROJECT_NAME = "pegxl"
RIBBON_MODULE = "RibbonMyAddin"        # the module name xlwings' template gives the ribbon callbacks
CALLBACK = "PegxlAction"
ON_ACTION = f"{RIBBON_MODULE}.{CALLBACK}"
CUSTOMUI_NS = "http://schemas.microsoft.com/office/2006/01/customui"   # as in the template
CUSTOMUI_PART = "customUI/customUI.xml"
VBA_PART = "xl/vbaProject.bin"
LOG_NAME = "pegxl-excel.log"

RIBBON_VBA = """Attribute VB_Name = "{module}"
' pegxl: every button of the pegxl tab calls {callback}; the id of the pressed button
' (pegxl_check_plan, pegxl_make_templates, ...) is handed to Python, where
' pegxl.macros.actions.dispatch runs the matching action on the active workbook (the plan).
' Built by `pegxl excel addin` from the ribbon add-in shipped with xlwings {xlwings}.

Sub {callback}(control As IRibbonControl)
    If ActiveWorkbook Is Nothing Then
        MsgBox "Aprire prima il piano (piano.xlsx), poi premere il pulsante.", vbExclamation, "pegxl"
        Exit Sub
    End If
    If ActiveWorkbook.Path = vbNullString Then
        MsgBox "Salvare prima la cartella di lavoro: pegxl lavora sul file del piano.", vbExclamation, "pegxl"
        Exit Sub
    End If
    Application.StatusBar = "pegxl: elaborazione in corso..."
    RunPython "import pegxl.macros.actions as a; a.dispatch('" & control.Id & "')"
    Application.StatusBar = False
End Sub
"""


# =========================================================================== the build

@dataclass(frozen=True)
class Group:
    id: str
    label: str


GROUPS = (Group("pegxlGroupPlan", "Piano"), Group("pegxlGroupReturns", "File restituiti"),
          Group("pegxlGroupMerge", "Consolidato"))


def xlwings_dir() -> Path:
    """The installed xlwings package folder, found without importing xlwings."""
    try:
        spec = importlib.util.find_spec("xlwings")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise PegxlError(finding(ErrorCode.X001, detail="il pacchetto xlwings non è installato"),
                         exit_code=EXIT_UNUSABLE)
    return Path(spec.origin).parent


def xlwings_version() -> str:
    try:
        return importlib.metadata.version("xlwings")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def template_path() -> Path:
    """The ribbon add-in template shipped inside the xlwings package."""
    p = xlwings_dir() / TEMPLATE_NAME
    if not p.is_file():
        raise PegxlError(finding(ErrorCode.X001, detail=f"la versione {xlwings_version()} di xlwings "
                                 f"non contiene il modello {TEMPLATE_NAME}: aggiornare xlwings"),
                         exit_code=EXIT_UNUSABLE)
    return p


def ribbon_xml() -> bytes:
    """The customUI XML of the pegxl tab: one button per action, all calling PegxlAction."""
    ET.register_namespace("", CUSTOMUI_NS)
    q = lambda tag: f"{{{CUSTOMUI_NS}}}{tag}"   # noqa: E731
    root = ET.Element(q("customUI"))
    tabs = ET.SubElement(ET.SubElement(root, q("ribbon")), q("tabs"))
    tab = ET.SubElement(tabs, q("tab"), {"id": "pegxlTab", "label": "pegxl"})
    for g in GROUPS:
        group = ET.SubElement(tab, q("group"), {"id": g.id, "label": g.label})
        for b in BUTTONS:
            if b.group != g.id:
                continue
            ET.SubElement(group, q("button"), {
                "id": b.id, "label": b.label, "size": "large", "imageMso": b.image,
                "screentip": b.label, "supertip": b.tip, "onAction": ON_ACTION})
    ET.indent(root)
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            + ET.tostring(root, encoding="unicode").encode("utf-8"))


def default_interpreter() -> str | None:
    """The Python that Excel should run: this one, when built on Windows or macOS."""
    if sys.platform.startswith(("win", "darwin")):
        return sys.executable
    return None


def build_addin(outdir: str | Path, *, interpreter: str | None = "auto", force: bool = False) -> Path:
    """Write `outdir/pegxl.xlam` from the ribbon add-in xlwings ships; return its path.

    `interpreter` is written into the add-in's `pegxl.conf` sheet (Interpreter_Win on
    Windows paths, Interpreter_Mac otherwise); "auto" means this Python when run on
    Windows or macOS, none on other systems (xlwings then uses its own configuration,
    else `python` on the PATH). Raises PegxlError X001 when xlwings is not installed."""
    target = Path(outdir) / ADDIN_NAME
    if target.exists() and not force:
        raise PegxlError(finding(ErrorCode.U002, file=str(target), value=str(target)),
                         exit_code=EXIT_UNUSABLE)
    src = template_path()
    if interpreter == "auto":
        interpreter = default_interpreter()
    data = src.read_bytes()
    return atomic_write_bytes(target, make_addin_bytes(data, interpreter=interpreter))


def make_addin_bytes(template: bytes, *, interpreter: str | None = None) -> bytes:
    """The bytes of pegxl.xlam made from the bytes of xlwings' ribbon add-in template."""
    zin = zipfile.ZipFile(io.BytesIO(template))
    names = zin.namelist()
    for needed in (CUSTOMUI_PART, VBA_PART, "xl/workbook.xml"):
        if needed not in names:
            raise PegxlError(finding(ErrorCode.X001, detail=f"il modello di xlwings {xlwings_version()} "
                                     f"non ha la parte {needed}: versione di xlwings non supportata"),
                             exit_code=EXIT_UNUSABLE)
    conf_sheet = _conf_sheet_part(zin)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == CUSTOMUI_PART:
                body = ribbon_xml()
            elif info.filename == VBA_PART:
                body = pegxl_vba(body)
            elif info.filename == "xl/workbook.xml":
                body = _workbook_xml(body, active=bool(interpreter))
            elif conf_sheet and info.filename == conf_sheet:
                body = _conf_sheet_xml(body, interpreter)
            elif info.filename == "docProps/core.xml":
                body = _core_xml(body)
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            zout.writestr(zi, body)
    data = out.getvalue()
    missing = [a for a in ribbon_callbacks(data) if a.split(".")[-1] not in
               addin_vba(data).procedures().get(a.split(".")[0], [])]
    if missing:   # pragma: no cover - a guard against a changed template
        raise PegxlError(finding(ErrorCode.X001, detail="il componente aggiuntivo costruito non ha le "
                                 f"routine VBA {', '.join(missing)}"), exit_code=EXIT_UNUSABLE)
    return data


def ribbon_callbacks(xlam: str | Path | bytes) -> set[str]:
    """Every onAction ("Module.Procedure") of an add-in's ribbon XML."""
    raw = xlam if isinstance(xlam, bytes) else Path(xlam).read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        root = ET.fromstring(z.read(CUSTOMUI_PART))
    return {a for el in root.iter() if (a := el.get("onAction"))}


def pegxl_vba(vba_project: bytes) -> bytes:
    """The template's vbaProject.bin with the pegxl project name and ribbon callback."""
    project = VbaProject(vba_project)
    modules = project.modules()
    if "xlwings" not in modules or RIBBON_MODULE not in modules:
        raise PegxlError(finding(ErrorCode.X001, detail="il progetto VBA del modello di xlwings "
                                 f"{xlwings_version()} non ha i moduli xlwings e {RIBBON_MODULE}"),
                         exit_code=EXIT_UNUSABLE)
    src, n = re.subn(r'(Public Const PROJECT_NAME As String = )"[^"]*"', rf'\1"{PROJECT_NAME}"',
                     modules["xlwings"])
    if n != 1:
        raise PegxlError(finding(ErrorCode.X001, detail="costante PROJECT_NAME non trovata nel modulo "
                                 "VBA xlwings: versione di xlwings non supportata"), exit_code=EXIT_UNUSABLE)
    project.set_source("xlwings", src)
    project.set_source(RIBBON_MODULE, RIBBON_VBA.format(module=RIBBON_MODULE, callback=CALLBACK,
                                                        xlwings=xlwings_version()))
    project.set_project_name(PROJECT_NAME)
    return project.to_bytes()


def _conf_sheet_part(zin: zipfile.ZipFile) -> str | None:
    """The worksheet part of the template's `_myaddin.conf` sheet."""
    wb = zin.read("xl/workbook.xml").decode("utf-8")
    m = re.search(r'<sheet [^>]*name="_?myaddin\.conf"[^>]*r:id="([^"]+)"', wb)
    if not m:
        return None
    rels = zin.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    for rel in re.finditer(r"<Relationship [^>]*>", rels):
        if f'Id="{m.group(1)}"' in rel.group(0):
            t = re.search(r'Target="([^"]+)"', rel.group(0))
            if t:
                target = t.group(1).lstrip("/")
                return target if target.startswith("xl/") else "xl/" + target
    return None


def _workbook_xml(body: bytes, *, active: bool) -> bytes:
    text = body.decode("utf-8")
    name = f"{PROJECT_NAME}.conf" if active else f"_{PROJECT_NAME}.conf"
    text = re.sub(r'name="_?myaddin\.conf"', lambda m: f'name="{name}"', text)
    # the template remembers the folder it was saved from on its author's PC: drop it
    text = re.sub(r"<mc:AlternateContent\b.*?</mc:AlternateContent>", "", text, flags=re.S)
    return text.encode("utf-8")


def _conf_sheet_xml(body: bytes, interpreter: str | None) -> bytes:
    """The configuration sheet: only the keys pegxl sets, so that every other setting still
    falls through to xlwings' user configuration (a key present with an empty value would
    stop that lookup). Strings are inline, the template's shared strings stay untouched."""
    rows = []
    if interpreter:
        key = "Interpreter_Win" if _is_windows_path(interpreter) else "Interpreter_Mac"
        rows.append((key, interpreter))
    text = body.decode("utf-8")
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{_xml_text(k)}</t></is></c>'
        f'<c r="B{r}" t="inlineStr"><is><t>{_xml_text(v)}</t></is></c></row>'
        for r, (k, v) in enumerate(rows, start=1))
    text = re.sub(r"<sheetData\s*/>|<sheetData>.*?</sheetData>", lambda m: f"<sheetData>{cells}</sheetData>",
                  text, flags=re.S)
    text = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="A1:B{max(1, len(rows))}" />', text)
    return text.encode("utf-8")


def _core_xml(body: bytes) -> bytes:
    text = body.decode("utf-8")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = re.sub(r"<dc:title\s*/>", "<dc:title>pegxl</dc:title>", text)
    text = re.sub(r"(<dcterms:modified [^>]*>)[^<]*(</dcterms:modified>)", rf"\g<1>{now}\g<2>", text)
    return text.encode("utf-8")


def _is_windows_path(p: str) -> bool:
    return bool(re.match(r"^[A-Za-z]:[\\/]", p)) or p.startswith("\\\\") or "\\" in p


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def install_steps(path: str | Path) -> list[str]:
    """The few steps that make the add-in appear in Excel, in Italian."""
    path = Path(path)
    return [
        "Per installare il componente aggiuntivo (Excel chiuso):",
        f"  1. xlwings addin install --file \"{path}\"",
        "     (lo copia nella cartella di avvio XLSTART di Excel, una posizione attendibile; "
        "su macOS installa anche lo script RunPython di xlwings).",
        "  2. Aprire Excel: compare la scheda «pegxl». Se le macro sono bloccate: File > Opzioni > "
        "Centro protezione > Impostazioni > Percorsi attendibili, aggiungere la cartella di avvio "
        "(macOS: abilitare le macro alla richiesta).",
        f"  3. Aprire il piano e usare i pulsanti. Ogni errore imprevisto è scritto in {LOG_NAME}, "
        "nella cartella del piano.",
    ]


# ================================================================ MS-OVBA compression

def decompress(data: bytes) -> bytes:
    """Decompress an MS-OVBA CompressedContainer (2.4.1.3.1)."""
    if not data or data[0] != 0x01:
        raise ValueError("not an MS-OVBA compressed container")
    out = bytearray()
    pos = 1
    n = len(data)
    while pos + 2 <= n:
        header = struct.unpack_from("<H", data, pos)[0]
        chunk_end = min(pos + (header & 0x0FFF) + 3, n)
        compressed = header & 0x8000
        pos += 2
        start = len(out)
        if not compressed:
            out += data[pos:pos + 4096]
            pos += 4096
            continue
        while pos < chunk_end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not flags & (1 << bit):
                    out.append(data[pos])
                    pos += 1
                    continue
                token = struct.unpack_from("<H", data, pos)[0]
                pos += 2
                bits = max((len(out) - start - 1).bit_length(), 4)
                length = (token & (0xFFFF >> bits)) + 3
                offset = (token >> (16 - bits)) + 1
                src = len(out) - offset
                if src < start:
                    raise ValueError("corrupt MS-OVBA copy token")
                for i in range(length):
                    out.append(out[src + i])
    return bytes(out)


def compress(data: bytes) -> bytes:
    """Compress into an MS-OVBA CompressedContainer (2.4.1.3.6 and following)."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start:start + 4096]
        body = _compress_chunk(chunk)
        if len(body) <= 4096:
            out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
        elif len(chunk) == 4096:
            out += struct.pack("<H", 0x3000 | 0x0FFF) + chunk
        else:  # pragma: no cover - text always compresses below this
            raise ValueError("chunk does not compress")
    return bytes(out)


def _compress_chunk(chunk: bytes) -> bytes:
    out = bytearray()
    heads: dict[bytes, list[int]] = {}
    pos, n = 0, len(chunk)

    def remember(i: int) -> None:
        if i + 3 <= n:
            heads.setdefault(chunk[i:i + 3], []).append(i)

    while pos < n:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= n:
                break
            bits = max((pos - 1).bit_length(), 4)
            max_len = (0xFFFF >> bits) + 3
            best_len, best_off = 0, 0
            for cand in reversed(heads.get(chunk[pos:pos + 3], [])[-64:]):
                limit = min(max_len, n - pos)
                length = 0
                while length < limit and chunk[cand + length] == chunk[pos + length]:
                    length += 1
                if length > best_len:
                    best_len, best_off = length, pos - cand
                    if length == limit:
                        break
            if best_len >= 3:
                token = ((best_off - 1) << (16 - bits)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                for i in range(pos, pos + best_len):
                    remember(i)
                pos += best_len
            else:
                out.append(chunk[pos])
                remember(pos)
                pos += 1
        out[flag_at] = flags
    return bytes(out)


# ===================================================================== MS-CFB files

FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


class CompoundFile:
    """A small MS-CFB (OLE2) reader that can write itself back with changed stream data.

    The directory (names, tree, colours, CLSIDs) is kept entry for entry; only the sectors
    are laid out again, so a stream may grow or shrink."""

    def __init__(self, data: bytes):
        if data[:8] != _MAGIC:
            raise ValueError("not an OLE compound file")
        self.sector_size = 1 << struct.unpack_from("<H", data, 0x1E)[0]
        self.mini_size = 1 << struct.unpack_from("<H", data, 0x20)[0]
        self.cutoff = struct.unpack_from("<I", data, 0x38)[0]
        self._data = data
        n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
        first_minifat, n_minifat, first_difat, n_difat = struct.unpack_from("<IIII", data, 0x3C)
        difat = list(struct.unpack_from("<109I", data, 0x4C))
        sec = first_difat
        per = self.sector_size // 4
        for _ in range(n_difat):
            if sec >= ENDOFCHAIN:
                break
            vals = struct.unpack_from(f"<{per}I", data, self._off(sec))
            difat += vals[:-1]
            sec = vals[-1]
        self.fat: list[int] = []
        for s in [x for x in difat if x < FATSECT][:n_fat]:
            self.fat += struct.unpack_from(f"<{per}I", data, self._off(s))
        raw_dir = self._chain_bytes(first_dir)
        self.entries = [bytearray(raw_dir[i:i + 128]) for i in range(0, len(raw_dir) - 127, 128)]
        mf = self._chain_bytes(first_minifat) if first_minifat < FATSECT else b""
        self.minifat = list(struct.unpack(f"<{len(mf) // 4}I", mf[:len(mf) // 4 * 4]))
        root_start = struct.unpack_from("<I", self.entries[0], 116)[0]
        self._ministream = self._chain_bytes(root_start) if root_start < FATSECT else b""
        self.paths = self._walk()
        self.streams: dict[int, bytes] = {i: self._read_entry(i) for i in self.paths.values()
                                          if self.entries[i][66] == 2}

    # -------------------------------------------------------------------- reading
    def _off(self, sector: int) -> int:
        return (sector + 1) * self.sector_size

    def _chain(self, start: int, fat: list[int]) -> list[int]:
        out, s, seen = [], start, set()
        while s < FATSECT and s < len(fat):
            if s in seen:
                raise ValueError("loop in a sector chain")
            seen.add(s)
            out.append(s)
            s = fat[s]
        return out

    def _chain_bytes(self, start: int) -> bytes:
        return b"".join(self._data[self._off(s):self._off(s) + self.sector_size]
                        for s in self._chain(start, self.fat))

    def _read_entry(self, i: int) -> bytes:
        e = self.entries[i]
        start = struct.unpack_from("<I", e, 116)[0]
        size = struct.unpack_from("<Q", e, 120)[0] & 0xFFFFFFFF
        if size < self.cutoff:
            blob = b"".join(self._ministream[s * self.mini_size:(s + 1) * self.mini_size]
                            for s in self._chain(start, self.minifat))
        else:
            blob = self._chain_bytes(start)
        return blob[:size]

    @staticmethod
    def _name(e: bytes | bytearray) -> str:
        n = struct.unpack_from("<H", e, 64)[0]
        return bytes(e[:max(0, n - 2)]).decode("utf-16-le")

    def _walk(self) -> dict[str, int]:
        paths: dict[str, int] = {}

        def siblings(i: int, prefix: str, depth: int = 0) -> None:
            if i == NOSTREAM or i >= len(self.entries) or depth > 256:
                return
            e = self.entries[i]
            left, right, child = struct.unpack_from("<III", e, 68)
            siblings(left, prefix, depth + 1)
            path = prefix + self._name(e)
            paths[path] = i
            if e[66] == 1:
                siblings(child, path + "/", depth + 1)
            siblings(right, prefix, depth + 1)

        siblings(struct.unpack_from("<I", self.entries[0], 76)[0], "")
        return paths

    def read(self, path: str) -> bytes:
        return self.streams[self.paths[path]]

    def write(self, path: str, data: bytes) -> None:
        i = self.paths[path]
        if self.entries[i][66] != 2:
            raise ValueError(f"{path} is not a stream")
        self.streams[i] = bytes(data)

    # -------------------------------------------------------------------- writing
    def to_bytes(self) -> bytes:
        """A version 3 compound file (512-byte sectors) with the same directory."""
        ss, ms, cutoff = 512, 64, 4096
        fat: list[int] = []
        sectors: list[bytes] = []

        def put(blob: bytes) -> int:
            if not blob:
                return ENDOFCHAIN
            n = math.ceil(len(blob) / ss)
            first = len(sectors)
            for k in range(n):
                sectors.append(blob[k * ss:(k + 1) * ss].ljust(ss, b"\0"))
                fat.append(first + k + 1 if k < n - 1 else ENDOFCHAIN)
            return first

        entries = [bytearray(e) for e in self.entries]
        for i, e in enumerate(entries):
            if e[66] == 2 and i not in self.streams:   # a stream outside the tree: emptied
                struct.pack_into("<IQ", e, 116, ENDOFCHAIN, 0)
        mini = bytearray()
        minifat: list[int] = []
        for i, blob in sorted(self.streams.items()):
            e = entries[i]
            if len(blob) >= cutoff:
                start = put(blob)
            elif blob:
                start = len(mini) // ms
                n = math.ceil(len(blob) / ms)
                for k in range(n):
                    minifat.append(start + k + 1 if k < n - 1 else ENDOFCHAIN)
                mini += blob.ljust(n * ms, b"\0")
            else:
                start = ENDOFCHAIN
            struct.pack_into("<IQ", e, 116, start, len(blob))
        # directory entries that are not streams keep size 0 (storages) except the root
        root = entries[0]
        struct.pack_into("<IQ", root, 116, put(bytes(mini)) if mini else ENDOFCHAIN, len(mini))
        while len(entries) % (ss // 128):
            empty = bytearray(128)
            struct.pack_into("<III", empty, 68, NOSTREAM, NOSTREAM, NOSTREAM)
            entries.append(empty)
        first_dir = put(b"".join(entries))
        first_minifat = put(struct.pack(f"<{len(minifat)}I", *minifat)) if minifat else ENDOFCHAIN
        n_minifat = math.ceil(len(minifat) * 4 / ss)
        n_fat = 1
        while math.ceil((len(sectors) + n_fat) / (ss // 4)) > n_fat:
            n_fat += 1
        if n_fat > 109:
            raise ValueError("compound file too large for this writer")
        fat_start = len(sectors)
        fat += [FATSECT] * n_fat
        fat += [FREESECT] * (n_fat * (ss // 4) - len(fat))
        fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
        for k in range(n_fat):
            sectors.append(fat_bytes[k * ss:(k + 1) * ss])
        header = bytearray(512)
        header[:8] = _MAGIC
        struct.pack_into("<HHHHH", header, 0x18, 0x003E, 0x0003, 0xFFFE, 9, 6)
        struct.pack_into("<IIIIIIIIII", header, 0x28, 0, n_fat, first_dir, 0, cutoff,
                         first_minifat, n_minifat, ENDOFCHAIN, 0, 0)
        difat = [fat_start + k for k in range(n_fat)] + [FREESECT] * (109 - n_fat)
        struct.pack_into("<109I", header, 0x4C, *difat)
        return bytes(header) + b"".join(sectors)


# ====================================================================== VBA projects

@dataclass
class _Module:
    name: str
    stream: str
    offset_index: int   # index of its MODULEOFFSET record in the dir records


class VbaProject:
    """The VBA project of an Office file (vbaProject.bin): module sources, read and changed."""

    def __init__(self, data: bytes):
        self.cfb = CompoundFile(data)
        self.records = _dir_records(decompress(self.cfb.read("VBA/dir")))
        self.codepage = 1252
        self._modules: list[_Module] = []
        name = stream = None
        for k, (rid, body) in enumerate(self.records):
            if rid == 0x0003:
                self.codepage = struct.unpack("<H", body)[0]
            elif rid == 0x0019:
                name = body.decode(self.encoding, "replace")
            elif rid == 0x001A:
                stream = body.decode(self.encoding, "replace")
            elif rid == 0x0031:
                self._modules.append(_Module(name or "", stream or name or "", k))

    @property
    def encoding(self) -> str:
        return f"cp{self.codepage}" if self.codepage not in (65001,) else "utf-8"

    @property
    def project_name(self) -> str:
        for rid, body in self.records:
            if rid == 0x0004:
                return body.decode(self.encoding, "replace")
        return ""

    def modules(self) -> dict[str, str]:
        """Module name -> VBA source (CRLF line ends, Attribute lines included)."""
        out = {}
        for m in self._modules:
            offset = struct.unpack("<I", self.records[m.offset_index][1])[0]
            raw = self.cfb.read(f"VBA/{m.stream}")
            out[m.name] = decompress(raw[offset:]).decode(self.encoding, "replace")
        return out

    def procedures(self) -> dict[str, list[str]]:
        """Module name -> the Sub/Function names it declares."""
        pat = re.compile(r"^\s*(?:(?:Public|Private|Friend)\s+)?(?:Static\s+)?(?:Sub|Function)\s+"
                         r"([A-Za-z_][A-Za-z0-9_]*)", re.I | re.M)
        return {name: pat.findall(src) for name, src in self.modules().items()}

    def set_source(self, module: str, source: str) -> None:
        """Replace a module's source; its compiled cache is dropped (the project is source
        only, Excel compiles on open)."""
        m = next((x for x in self._modules if x.name == module), None)
        if m is None:
            raise KeyError(module)
        text = source.replace("\r\n", "\n").replace("\n", "\r\n")
        self.cfb.write(f"VBA/{m.stream}", compress(text.encode(self.encoding)))
        self.records[m.offset_index] = (0x0031, struct.pack("<I", 0))

    def set_project_name(self, name: str) -> None:
        body = name.encode(self.encoding)
        self.records = [(rid, body if rid == 0x0004 else b) for rid, b in self.records]
        project = self.cfb.read("PROJECT").decode(self.encoding, "replace")
        project = re.sub(r'(?m)^Name="[^"]*"', lambda m: f'Name="{name}"', project)
        self.cfb.write("PROJECT", project.encode(self.encoding))

    def to_bytes(self) -> bytes:
        self.cfb.write("VBA/dir", compress(_dir_bytes(self.records)))
        return self.cfb.to_bytes()


def _dir_records(d: bytes) -> list[tuple[int, bytes]]:
    """The records of a decompressed `dir` stream (MS-OVBA 2.3.4.2) as (id, body)."""
    out, pos = [], 0
    while pos + 6 <= len(d):
        rid, size = struct.unpack_from("<HI", d, pos)
        pos += 6
        if rid == 0x0009:   # PROJECTVERSION: its Size says 4 but 6 bytes follow
            size = 6
        out.append((rid, d[pos:pos + size]))
        pos += size
    return out


def _dir_bytes(records: Iterable[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for rid, body in records:
        out += struct.pack("<HI", rid, 4 if rid == 0x0009 else len(body)) + body
    return bytes(out)


def addin_vba(xlam: str | Path | bytes) -> VbaProject:
    """The VBA project inside an .xlam/.xlsm (path or bytes)."""
    raw = xlam if isinstance(xlam, bytes) else Path(xlam).read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return VbaProject(z.read(VBA_PART))
