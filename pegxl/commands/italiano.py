"""Click's own texts in Italian: usage line, section titles, help of -h/-V, every error.

Click writes each of its texts through gettext (`from gettext import gettext as _` and
`ngettext` in core, decorators, exceptions, formatting, parser, termui, types, utils, ...).
`install()` binds those two names, in every click module, to the catalogue below: one
place for all of click's texts, whatever command prints them. tests/test_cli_italiano.py
walks click's source and fails on a message the catalogue lacks (a click upgrade that adds
one is caught there).

Three texts of click are not messages but defaults, set per command by `localize()`:
"[OPTIONS]", "COMMAND [ARGS]..." and the metavar of an option taken from its type's name
("TEXT", "INTEGER"); the Path types' names ("file", "directory", "path") are messages but
are read when the option is declared, so `localize()` sets them again.

Installed process-wide when `pegxl.commands` is imported: pegxl is the program that owns
click in its process. The plural rule of Italian is the English one (1 singular, else plural).
"""
from __future__ import annotations

import gettext
import importlib
import sys
from typing import Any

import click

# msgid (click's English text) -> Italian. Placeholders kept as click fills them.
MESSAGES: dict[str, str] = {
    # formatting, help pages
    "Usage:": "Uso:",
    "Options": "Opzioni",
    "Commands": "Comandi",
    "Positional arguments": "Argomenti",
    "Show this message and exit.": "Mostra questo aiuto ed esce.",
    "Show the version and exit.": "Mostra la versione ed esce.",
    "%(prog)s, version %(version)s": "%(prog)s, versione %(version)s",
    "default: {default}": "predefinito: {default}",
    "required": "obbligatorio",
    "env var: {var}": "variabile d'ambiente: {var}",
    "(dynamic)": "(calcolato)",
    "deprecated": "deprecato",
    "(Deprecated) {text}": "(Deprecato) {text}",
    "{text} {deprecated_message}": "{text} {deprecated_message}",
    "DeprecationWarning: The command {name!r} is deprecated.":
        "Avviso: il comando {name!r} è deprecato.",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}":
        "Avviso: il comando {name!r} è deprecato.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}":
        "Avviso: il parametro {name!r} è deprecato.{extra_message}",
    "Do you want to continue?": "Continuare?",
    "Confirm the action without prompting.": "Conferma senza chiedere.",
    # usage errors
    "Error: {message}": "Errore: {message}",
    "Error: {e.message}": "Errore: {e.message}",
    "Try '{command} {option}' for help.": "Per l'aiuto: '{command} {option}'.",
    "Aborted!": "Interrotto.",
    "Missing command.": "Manca il comando.",
    "Missing argument": "Manca l'argomento",
    "Missing option": "Manca l'opzione",
    "Missing parameter": "Manca il parametro",
    "Missing {param_type}": "Manca il parametro",
    "Missing parameter: {param_name}": "Manca il parametro: {param_name}",
    "No such option {name!r}.": "L'opzione {name!r} non esiste.",
    "No such option: {name}": "L'opzione {name} non esiste.",
    "No such command {name!r}.": "Il comando {name!r} non esiste.",
    "Invalid value for {param_hint}: {message}": "Valore non valido per {param_hint}: {message}",
    "Invalid value: {message}": "Valore non valido: {message}",
    "Value must be an iterable.": "Il valore deve essere un elenco.",
    "unknown error": "errore sconosciuto",
    "Could not open file {filename!r}: {message}": "Impossibile aprire il file {filename!r}: {message}",
    "Invalid start character for option ({option})":
        "Carattere iniziale non valido per un'opzione ({option})",
    "Option {name!r} does not take a value.": "L'opzione {name!r} non accetta un valore.",
    "Argument {name!r} takes {nargs} values.": "L'argomento {name!r} vuole {nargs} valori.",
    # values
    "file": "file",
    "directory": "cartella",
    "path": "percorso",
    "{name} {filename!r} does not exist.": "{name} {filename!r} non esiste.",
    "{name} {filename!r} is a file.": "{name} {filename!r} è un file.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} è una cartella.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} non è leggibile.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} non è scrivibile.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} non è eseguibile.",
    "{value!r} is not a valid {number_type}.": "{value!r} non è un {number_type} valido.",
    "{value} is not in the range {range}.": "{value} non è nell'intervallo {range}.",
    "{value!r} is not a valid boolean.": "{value!r} non è un valore sì/no valido.",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "{value!r} non è un valore sì/no valido. Valori riconosciuti: {states}",
    "{value!r} is not a valid UUID.": "{value!r} non è un UUID valido.",
    "Choose from:\n\t{choices}": "Scegliere tra:\n\t{choices}",
    "Choice({choices})": "Scelta({choices})",
    # prompts and terminal
    "Repeat for confirmation": "Ripetere per conferma",
    "Error: The two entered values do not match.": "Errore: i due valori non coincidono.",
    "Error: invalid input": "Errore: valore non valido",
    "Error: The value you entered was invalid.": "Errore: il valore inserito non è valido.",
    "Press any key to continue...": "Premere un tasto per continuare...",
    "Unknown color {colour!r}": "Colore sconosciuto: {colour!r}",
    "Unknown standard stream '{name}'": "Flusso standard sconosciuto: '{name}'",
    "d": "g",   # days in a progress bar's remaining time
    "{editor}: Editing failed": "{editor}: modifica non riuscita",
    "{editor}: Editing failed: {e}": "{editor}: modifica non riuscita: {e}",
    "Windows error: {error}": "Errore di Windows: {error}",
    "Couldn't detect Bash version, shell completion is not supported.":
        "Versione di Bash non riconosciuta: completamento automatico non disponibile.",
    "Shell completion is not supported for Bash versions older than 4.4.":
        "Il completamento automatico richiede Bash 4.4 o successivo.",
    # mistakes in declaring commands (raised to the programmer, Italian all the same)
    "Could not determine name for option with declarations {decls!r}":
        "Impossibile ricavare il nome dell'opzione dichiarata come {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument "
    "instead? Did you mean to pass '--{name}'?":
        "Nessuna opzione dichiarata ma è stato dato un nome ({name}). Si voleva dichiarare un "
        "argomento? O scrivere '--{name}'?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.":
        "Un argomento si dichiara con un solo nome, dati {length}: {decls}.",
    "Name '{name}' defined twice": "Nome '{name}' dichiarato due volte",
    "Boolean option {decl!r} cannot use the same flag for true/false.":
        "L'opzione sì/no {decl!r} non può usare la stessa forma per sì e per no.",
}

# (singular msgid, plural msgid) -> (Italian singular, Italian plural)
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Argomento in più non previsto ({args}).", "Argomenti in più non previsti ({args})."),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Forse si intendeva {possibility}?", "(Forse si intendeva uno tra: {possibilities}?)"),
    ("Did you mean {possibility}?", "(Possible options: {possibilities})"):
        ("Forse si intendeva {possibility}?", "(Opzioni possibili: {possibilities})"),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("L'opzione {name!r} vuole un valore.", "L'opzione {name!r} vuole {nargs} valori."),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("Vuole {nargs} valori ma ne è stato dato 1.", "Vuole {nargs} valori ma ne sono stati dati {len}."),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} non è {choice}.", "{value!r} non è tra {choices}."),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("{value!r} non ha il formato {format}.", "{value!r} non ha nessuno dei formati {formats}."),
    ("{len_type} values are required, but {len_value} was given.",
     "{len_type} values are required, but {len_value} were given."):
        ("Servono {len_type} valori, ma ne è stato dato {len_value}.",
         "Servono {len_type} valori, ma ne sono stati dati {len_value}."),
}

# click's modules that bind gettext; the ones imported lazily are imported here so that
# they are bound before their first use (_winconsole exists only on Windows)
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types",
                 "utils", "shell_completion", "_termui_impl", "_winconsole")

OPTIONS_METAVAR = "[OPZIONI]"
SUBCOMMAND_METAVAR = "COMANDO [ARGOMENTI]..."


class Italian(gettext.NullTranslations):
    """gettext translations from MESSAGES and PLURALS; an unknown text stays as it is."""

    def gettext(self, message: str) -> str:
        return MESSAGES.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        singular, plural = PLURALS.get((msgid1, msgid2), (msgid1, msgid2))
        return singular if n == 1 else plural


ITALIAN = Italian()


def install() -> None:
    """Make every click module write its texts through the Italian catalogue."""
    for name in CLICK_MODULES:
        if name != "_winconsole" or sys.platform == "win32":
            importlib.import_module(f"click.{name}")
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "click" or name.startswith("click.")):
            continue
        # setattr: the names are click's private module globals, unknown to type checkers
        if callable(getattr(module, "_", None)):
            setattr(module, "_", ITALIAN.gettext)  # noqa: B010
        if callable(getattr(module, "ngettext", None)):
            setattr(module, "ngettext", ITALIAN.ngettext)  # noqa: B010


# click's value types named in Italian: the name is the metavar of an option ("TESTO") and
# the word of "'x' non è un intero valido."
class Text(click.types.StringParamType):
    name = "testo"


class Integer(click.types.IntParamType):
    name = "intero"


class Decimal(click.types.FloatParamType):
    name = "decimale"


_TYPES: dict[type, Any] = {   # Any: ParamType is generic only from click 8.2
    click.types.StringParamType: Text(),
    click.types.IntParamType: Integer(),
    click.types.FloatParamType: Decimal(),
}


def _path_name(path: click.Path) -> str:
    if path.file_okay and not path.dir_okay:
        return ITALIAN.gettext("file")
    if path.dir_okay and not path.file_okay:
        return ITALIAN.gettext("directory")
    return ITALIAN.gettext("path")


def localize(command: click.Command) -> None:
    """Italian usage line and metavars for `command` and every command under it."""
    command.options_metavar = OPTIONS_METAVAR
    if isinstance(command, click.Group):
        command.subcommand_metavar = SUBCOMMAND_METAVAR
    for param in command.params:
        param.type = _TYPES.get(type(param.type), param.type)
        if isinstance(param.type, click.Path):
            param.type.name = _path_name(param.type)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            localize(sub)


install()
