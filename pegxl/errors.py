"""The error catalogue: every problem a user can see, with a stable code.

Each entry has a code (never reused, never renumbered), a severity, an Italian message
template saying what is wrong, and a hint saying how to fix it. Where the problem is (file,
sheet, cell, record code) travels in the Finding. Modelled on pyxform's ErrorCode.

Codes by area: P plan, F file (unreadable or hostile), I identity of a return, T tampering
with locked content, V values typed by a settore, M merge, O OIV workbook, E e-mail,
A archive, X Excel add-in, D documents (schede obiettivo, Relazione sulla performance, PDF),
U usage.
"""
from __future__ import annotations

import datetime as _dt
import enum
import errno as _errno
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

ERROR = "errore"
WARNING = "avviso"

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNUSABLE = 2


class ErrorCode(enum.Enum):
    """(code, severity, message template, hint). Templates use str.format fields."""

    # -- plan --------------------------------------------------------------------
    P001 = ("P001", ERROR, "Il foglio «{sheet}» manca nel piano.",
            "Aggiungere il foglio con le intestazioni previste (vedi `pegxl init`).")
    P002 = ("P002", ERROR, "Manca la colonna obbligatoria «{column}» nel foglio «{sheet}».{suggestion}",
            "Aggiungere la colonna o correggerne l'intestazione.")
    P003 = ("P003", ERROR, "Manca il valore obbligatorio «{column}».",
            "Compilare la cella.")
    P004 = ("P004", ERROR, "Il codice «{value}» è ripetuto (già usato alla riga {other_row}).",
            "Ogni codice deve comparire una sola volta: correggere o eliminare il doppione.")
    P005 = ("P005", ERROR, "Il settore «{value}» non esiste nel foglio Settori.{suggestion}",
            "Usare un Codice settore del foglio Settori, un elenco separato da «;» o «*» per tutti.")
    P006 = ("P006", ERROR, "L'obiettivo «{value}» non esiste nel foglio Obiettivi.{suggestion}",
            "Usare un Codice obiettivo del foglio Obiettivi.")
    P007 = ("P007", ERROR, "I pesi delle fasi dell'obiettivo «{record}» sommano a {found} invece di 100.",
            "Correggere i pesi delle fasi in modo che la somma sia 100.")
    P008 = ("P008", ERROR, "Il peso è indicato solo per alcuni {what}: {missing} senza peso.",
            "Indicare il peso per tutti o per nessuno (pesi uguali).")
    P009 = ("P009", ERROR, "I pesi {what} sommano a {found} invece di 100.",
            "Correggere i pesi in modo che la somma sia 100.")
    P010 = ("P010", ERROR, "«{value}» non è una data valida.",
            "Scrivere una data (gg/mm/aaaa) in una cella di tipo data.")
    P011 = ("P011", ERROR, "La fine ({end}) è precedente all'inizio ({start}).",
            "Correggere le date.")
    P012 = ("P012", WARNING, "La data {value} è fuori dall'anno {anno}.",
            "Verificare l'anno della data.")
    P013 = ("P013", ERROR, "«{value}» non è un valore ammesso per «{column}». Valori ammessi: {allowed}.",
            "Scegliere un valore dall'elenco.")
    P014 = ("P014", ERROR, "Il Valore atteso «{value}» non è compatibile con il Tipo valore «{value_type}»{detail}.",
            "Correggere il Valore atteso o il Tipo valore.")
    P015 = ("P015", WARNING, "«{value}» è scritto come testo; letto come {parsed}.",
            "Scrivere il valore come numero o data e non come testo.")
    P016 = ("P016", ERROR, "«{value}» non è un numero valido per «{column}».",
            "Scrivere un numero (es. 12,5).")
    P017 = ("P017", ERROR, "Manca la voce obbligatoria «{value}» nel foglio Ente.",
            "Aggiungere la riga con Voce «{value}» e il suo Valore.")
    P018 = ("P018", ERROR, "Il valore «{value}» della regola «{record}» non è valido: {detail}.",
            "Correggere il valore nel foglio Regole.")
    P019 = ("P019", WARNING, "La regola «{value}» non è conosciuta ed è ignorata.",
            "Verificare il nome della regola (vedi la colonna Descrizione).")
    P020 = ("P020", WARNING, "L'obiettivo «{record}» non ha né fasi né indicatori valutabili.",
            "Aggiungere fasi o indicatori, o prevedere un grado dichiarato.")
    P021 = ("P021", WARNING, "Il settore «{record}» non ha obiettivi.",
            "Assegnare almeno un obiettivo al settore o toglierlo dal piano.")
    P022 = ("P022", ERROR, "Il peso «{value}» non è valido: deve essere un numero maggiore di 0.",
            "Scrivere un peso positivo.")
    P023 = ("P023", ERROR, "Il piano non contiene nessun settore o nessun obiettivo.",
            "Compilare i fogli Settori e Obiettivi.")
    P024 = ("P024", WARNING, "Il codice «{value}» contiene caratteri non ammessi nel nome di un file ({detail}).",
            "Usare lettere, cifre, «_», «-» e «.».")
    # P025 (a row without a code, ignored) was never reported: such a row is P003. Retired (RETIRED), never reused.
    P026 = ("P026", ERROR, "Il numero {value} non è un numero intero positivo.",
            "Numerare fasi e indicatori 1, 2, 3, ...")
    P027 = ("P027", WARNING, "La colonna «{value}» non è riconosciuta e i suoi valori sono ignorati. Forse «{column}»?",
            "Correggere l'intestazione in «{column}».")
    P028 = ("P028", WARNING, "Il Valore atteso {value} è in una cella in formato percentuale: letto come {parsed}.",
            "Nessuna azione se la lettura è giusta; altrimenti scrivere il numero senza formato percentuale.")
    P029 = ("P029", ERROR, "I settori «{value}» e «{other}» (riga {other_row}) darebbero lo stesso nome ai loro file ({detail}).",
            "Cambiare il Codice settore di uno dei due: i nomi dei file non distinguono maiuscole e minuscole "
            "e sostituiscono con «-» i caratteri diversi da lettere, cifre, «_», «-» e «.».")
    P035 = ("P035", ERROR, "Peso fasi e Peso indicatori sommano a {detail} invece di 100.",
            "Scrivere un solo dei due pesi (l'altro vale 100 meno questo) o due pesi che sommano a 100 (es. 40 e 60).")
    P036 = ("P036", ERROR, "Il Tetto indicatore {value} è inferiore a 100.",
            "Scrivere 100 (un indicatore raggiunto vale 100) o un tetto maggiore per premiare chi supera il valore atteso.")
    P037 = ("P037", WARNING, "La fascia più bassa («{record}») parte da {value}: un settore sotto questo valore è senza fascia («nessuna fascia»).",
            "Aggiungere una fascia con limite inferiore 0 (es. «Fascia D» 0) se ogni settore deve avere una fascia.")
    P041 = ("P041", WARNING, "Il piano è un Monitoraggio intermedio senza Data di riferimento: la rilevazione non è "
                             "datata e le fasi con la Fine prevista già passata non possono essere segnalate.",
            "Aggiungere nel foglio Ente la voce «Data di riferimento» con la data a cui si riferiscono i valori "
            "(es. 30/06/{anno}).")

    # -- file: unreadable or hostile -----------------------------------------------
    F001 = ("F001", ERROR, "Il file non esiste o non si può leggere: {detail}.",
            "Verificare il percorso e i permessi.")
    F002 = ("F002", ERROR, "Il file non è un foglio di calcolo leggibile ({detail}).",
            "Salvare il file in formato .xlsx (Excel) o .ods (LibreOffice).")
    F003 = ("F003", ERROR, "Il file .xlsx è danneggiato (archivio zip non valido).",
            "Aprire il file in Excel o LibreOffice, salvarlo di nuovo e rimandarlo.")
    F004 = ("F004", ERROR, "Il file è protetto da password (cifrato) e non si può leggere.",
            "Togliere la password di apertura (File > Informazioni > Proteggi cartella) e rimandarlo.")
    F005 = ("F005", ERROR, "Il file è nel vecchio formato .xls di Excel 97-2003.",
            "Aprirlo e salvarlo come «Cartella di lavoro di Excel (.xlsx)».")
    F006 = ("F006", ERROR, "Il file decompresso supererebbe {detail}: rifiutato per sicurezza.",
            "Rimandare il modello originale compilato, senza dati aggiunti.")
    F007 = ("F007", ERROR, "Il foglio «{sheet}» ha {detail} righe, oltre il massimo atteso.",
            "Cancellare le righe in eccesso e salvare di nuovo.")
    F008 = ("F008", WARNING, "Il file contiene collegamenti esterni ad altri file, che non sono seguiti.",
            "Sostituire i collegamenti con i valori (Incolla speciale > Valori).")
    F009 = ("F009", ERROR, "Il file è vuoto.",
            "Rimandare il file compilato.")
    F010 = ("F010", ERROR, "Non si può scrivere il file: {detail}.",
            "Verificare che la cartella esista, sia scrivibile e che il file non sia aperto in Excel.")
    F011 = ("F011", ERROR, "«{value}» non è un file ordinario ({detail}): non è stato aperto.",
            "Tra i file restituiti mettere solo file .xlsx o .ods salvati dal programma di calcolo "
            "(una cartella con il nome di un file è spesso un .xlsx decompresso: ricomprimerla non basta, "
            "rimandare il file originale).")

    # -- identity of a returned workbook --------------------------------------------
    I001 = ("I001", ERROR, "Il file non è un modello pegxl: manca il foglio nascosto «_pegxl».",
            "Compilare il modello inviato dall'ufficio, senza copiarne i dati in un'altra cartella.")
    I002 = ("I002", ERROR, "Il file è del piano con impronta {found}, ma il piano attuale ha impronta {expected}.",
            "Il modello è superato: inviare al settore il modello generato dal piano attuale.")
    I003 = ("I003", ERROR, "Il file è dell'anno {found}, ma il piano è dell'anno {expected}.",
            "Chiedere al settore il file dell'anno giusto.")
    I004 = ("I004", ERROR, "Il file è dell'ente «{found}», ma il piano è dell'ente «{expected}».",
            "Verificare di aver ricevuto il file giusto.")
    I005 = ("I005", ERROR, "Il file è per la fase «{found}», ma il piano è nella fase «{expected}».",
            "Inviare il modello della fase in corso.")
    I006 = ("I006", ERROR, "Il settore «{value}» del file non esiste nel piano.",
            "Verificare di aver ricevuto il file giusto.")
    I007 = ("I007", ERROR, "Più file per il settore «{record}»: {detail}. Nessuno è stato scelto.",
            "Tenere nella cartella un solo file per settore (il più recente corretto).")
    I008 = ("I008", WARNING, "Il file è della versione di formato {found}; questa versione di pegxl scrive la {expected}.",
            "Se possibile rigenerare i modelli con questa versione.")
    I009 = ("I009", ERROR, "Il foglio nascosto «_pegxl» è stato alterato: manca «{value}».",
            "Rimandare il modello originale compilato.")
    I010 = ("I010", WARNING, "Il piano è cambiato dopo la generazione del modello (impronta {found}, ora {expected}), ma non nella parte di questo settore.",
            "Nessuna azione necessaria: il file è utilizzabile.")

    # -- tampering with locked content ----------------------------------------------
    T001 = ("T001", ERROR, "Manca il foglio «{sheet}» (rinominato o cancellato).",
            "Ripristinare il foglio dal modello originale.")
    T002 = ("T002", ERROR, "Manca la colonna «{column}» nel foglio «{sheet}».",
            "Ripristinare la colonna dal modello originale.")
    T003 = ("T003", ERROR, "La riga di «{record}» è stata cancellata.",
            "Ripristinare la riga dal modello originale.")
    T004 = ("T004", ERROR, "Riga aggiunta con codice «{record}», che non è nel piano.",
            "Cancellare la riga: obiettivi, fasi e indicatori si cambiano solo nel piano.")
    T005 = ("T005", WARNING, "Le righe sono in un ordine diverso dal modello.",
            "Nessuna azione necessaria: le righe sono lette per codice.")
    T006 = ("T006", ERROR, "Il valore bloccato «{column}» è stato cambiato: nel piano «{expected}», nel file «{found}».",
            "Ripristinare il valore del piano: solo le celle colorate si compilano.")
    T007 = ("T007", WARNING, "La protezione del foglio «{sheet}» è stata tolta.",
            "Nessun dato è stato perso, ma usare il modello protetto la prossima volta.")
    T008 = ("T008", ERROR, "La riga di «{record}» compare più volte.",
            "Cancellare le righe duplicate.")
    T009 = ("T009", ERROR, "Nella cella {at} del foglio «{sheet}», che non è da compilare, è stata scritta una formula ({value}).",
            "Cancellare la formula: si compilano solo le celle bianche delle colonne da compilare.")
    T010 = ("T010", ERROR, "La formula della cella calcolata {at} del foglio «{sheet}» è stata cambiata ({value}): {detail}.",
            "Rimandare il modello originale compilato: le celle calcolate non si modificano.")
    T011 = ("T011", ERROR, "Il nome definito «{value}» non è quello del modello: {detail}.",
            "Eliminare il nome (Formule > Gestione nomi) o rimandare il modello originale compilato.")
    T012 = ("T012", WARNING, "Il file contiene il nome definito «{value}», che non è del modello ed è ignorato.",
            "Nessuna azione necessaria; se possibile eliminarlo (Formule > Gestione nomi).")
    T013 = ("T013", ERROR, "Il file contiene un collegamento DDE/OLE a un altro programma ({detail}).",
            "Eliminare il collegamento (Dati > Modifica collegamenti) o rimandare il modello originale compilato.")
    T014 = ("T014", WARNING, "Il file contiene macro o oggetti attivi ({detail}): non sono eseguiti né copiati.",
            "Non abilitare il contenuto all'apertura; salvare il file come .xlsx senza macro e rimandarlo.")
    T015 = ("T015", WARNING, "Il file contiene connessioni a dati esterni ({detail}): non sono seguite né copiate.",
            "Nessuna azione necessaria; se possibile eliminarle (Dati > Connessioni).")
    T016 = ("T016", WARNING, "La cella {at} del foglio «{sheet}» contiene un collegamento ipertestuale verso {value}: non è copiato.",
            "Nessuna azione necessaria; se possibile togliere il collegamento.")
    T017 = ("T017", ERROR, "La cella {at} da compilare è coperta dall'unione di celle {detail}: pegxl leggerebbe «{value}», ma sullo schermo si vede «{shown}».",
            "Separare le celle (Unisci e allinea al centro > Separa celle) e scrivere il valore giusto nella cella.")
    T018 = ("T018", ERROR, "Una formattazione condizionale o una convalida del foglio «{sheet}» (cella {at}) usa una formula non ammessa ({value}): {detail}.",
            "Eliminare la regola (Formattazione condizionale > Gestisci regole, o Dati > Convalida) o rimandare il modello originale compilato.")

    # -- values typed by a settore ----------------------------------------------------
    V001 = ("V001", ERROR, "Avanzamento {value} fuori dall'intervallo 0-100.",
            "Scrivere un numero tra 0 e 100.")
    V002 = ("V002", ERROR, "«{value}» non è una data valida per «{column}».",
            "Scrivere una data gg/mm/aaaa.")
    V003 = ("V003", ERROR, "La fine effettiva ({end}) è precedente all'inizio effettivo ({start}).",
            "Correggere le date.")
    V004 = ("V004", WARNING, "La data {value} di «{column}» è lontana dall'anno {anno}.",
            "Verificare l'anno della data.")
    V005 = ("V005", ERROR, "«{value}» non è uno Stato ammesso. Valori ammessi: {allowed}.",
            "Scegliere lo Stato dall'elenco.")
    V006 = ("V006", ERROR, "Valore raggiunto «{value}» non leggibile come {value_type}.",
            "Scrivere {example}.")
    V007 = ("V007", WARNING, "«{value}» in «{column}» è scritto come testo; letto come {parsed}.",
            "Nessuna azione se la lettura è giusta.")
    V008 = ("V008", ERROR, "Manca la Motivazione scostamento per un obiettivo «{value}».",
            "Spiegare nella colonna Motivazione scostamento perché l'obiettivo è {value}.")
    V009 = ("V009", WARNING, "Il grado dichiarato ({declared}) differisce dal calcolato ({computed}) di più di {threshold} punti e manca la Motivazione scostamento.",
            "Spiegare lo scostamento nella colonna Motivazione scostamento.")
    V010 = ("V010", ERROR, "Manca «{column}», obbligatorio nella Rendicontazione finale.",
            "Compilare la cella.")
    V011 = ("V011", WARNING, "Manca «{column}» (monitoraggio intermedio: conteggiato come mancante).",
            "Compilare la cella se il dato è disponibile.")
    V012 = ("V012", ERROR, "Nella cella è stata scritta una formula ({value}) invece di un valore.",
            "Scrivere il valore; le formule nelle celle da compilare non sono ammesse.")
    V013 = ("V013", ERROR, "Grado dichiarato {value} fuori dall'intervallo 0-100.",
            "Scrivere un numero tra 0 e 100 o lasciare vuoto.")
    V014 = ("V014", ERROR, "«{value}» non è un numero valido per «{column}».",
            "Scrivere un numero (es. 75 o 75,5).")
    V015 = ("V015", WARNING, "«{value}» in «{column}» è stato letto come {parsed} (percentuale).",
            "Verificare il valore: scrivere 75 per 75%.")
    V016 = ("V016", WARNING, "Lo Stato è «Concluso» ma una fase dell'obiettivo è avanzata solo al {value}%.",
            "Verificare lo Stato o l'Avanzamento % delle fasi.")
    V017 = ("V017", WARNING, "«{value}» in «{column}» è un numero senza formato data; letto come il giorno {parsed}.",
            "Nessuna azione se la data è giusta; altrimenti scrivere la data come gg/mm/aaaa.")
    V018 = ("V018", WARNING, "«{shown}» in «{column}» è in formato percentuale, ma l'indicatore è di tipo numero: letto come {parsed}.",
            "Se si intendeva {alt}, scrivere {alt} senza il simbolo %.")
    V019 = ("V019", WARNING, "«{value}» in «{column}» vale meno dell'1%: forse si intendeva {alt}%?",
            "Scrivere la percentuale come numero da 0 a 100 (es. {alt} per {alt}%); nessuna azione se {value}% è giusto.")
    V020 = ("V020", ERROR, "Nella cella c'è il valore di errore {value} (copiato da una formula?) invece di un dato.",
            "Scrivere il dato al posto dell'errore.")
    V030 = ("V030", ERROR, "Il testo in «{column}» è lungo {detail} caratteri, oltre i 32.767 che una cella di Excel può contenere.",
            "Accorciare il testo (al massimo 32.767 caratteri; il modello ne consiglia molti meno).")
    V031 = ("V031", WARNING, "Il testo in «{column}» contiene caratteri di controllo invisibili ({detail}), che un file Excel non può contenere: sono tolti.",
            "Nessuna azione necessaria; se il testo è stato incollato da un altro programma, controllarlo.")
    V032 = ("V032", ERROR, "Il numero {value} in «{column}» è fuori dall'intervallo che Excel può scrivere.",
            "Scrivere un numero ordinario (in valore assoluto sotto 1E+307).")
    V033 = ("V033", ERROR, "La data {value} in «{column}» è fuori dall'intervallo che Excel può scrivere (dal 1900 al 9999).",
            "Correggere la data (gg/mm/aaaa).")
    V040 = ("V040", ERROR, "L'obiettivo non ha nulla da cui calcolare il grado ({detail}) e manca il Grado dichiarato %.",
            "Dichiarare il grado dell'obiettivo in «Grado dichiarato %» (da 0 a 100), o compilare i dati mancanti.")
    V041 = ("V041", WARNING, "L'obiettivo non ha ancora nulla da cui calcolare il grado ({detail}) né un Grado dichiarato %: escluso dalle medie.",
            "Nella Rendicontazione finale servirà il Grado dichiarato % (da 0 a 100) o i dati mancanti.")
    V042 = ("V042", WARNING, "Fasi e indicatori dell'obiettivo sono tutti neutralizzati: l'obiettivo è Non valutabile e il Grado dichiarato {value} non conta.",
            "Nessuna azione se la neutralizzazione è giusta; altrimenti chiedere all'ufficio di correggere il piano.")
    # V043-V045: against the previous snapshot of the same year (monitoraggio -> rendicontazione)
    V043 = ("V043", WARNING, "L'Avanzamento % è {value} {at}, ma era {previous} {previous_at}: "
                             "l'avanzamento è tornato indietro.",
            "Verificare l'Avanzamento %: se il valore {previous_at} era sbagliato, spiegarlo nelle Note della fase.")
    V044 = ("V044", WARNING, "Il Valore raggiunto è {value} {at}, ma era {previous} {previous_at}: "
                             "il risultato si è allontanato dal Valore atteso {target} ({detail}).",
            "Verificare il Valore raggiunto: se il peggioramento è reale, spiegarlo nelle Note dell'indicatore.")
    V045 = ("V045", WARNING, "La Fine prevista della fase ({planned_end}) è precedente alla data di riferimento "
                             "del monitoraggio ({date}), ma l'Avanzamento % è {value}.",
            "Aggiornare l'Avanzamento % se la fase è conclusa; altrimenti spiegare il ritardo nelle Note della fase.")

    # -- merge --------------------------------------------------------------------------
    M001 = ("M001", ERROR, "Il consolidamento è rifiutato: {value} file con errori.",
            "Correggere i file indicati o usare --partial per escludere i settori con errori.")
    M002 = ("M002", WARNING, "Il settore «{record}» è escluso dal consolidamento: {detail}.",
            "Chiedere al settore il file corretto.")
    M003 = ("M003", WARNING, "Manca il file del settore «{record}».",
            "Chiedere al settore di restituire il modello compilato.")
    M004 = ("M004", ERROR, "Nessun file utilizzabile da consolidare.",
            "Indicare la cartella dei file restituiti, o correggere i file con errori (vedi `pegxl validate`).")
    M005 = ("M005", ERROR, "Riconciliazione fallita: {detail}.",
            "Segnalare il problema: alcuni valori non sono stati riportati.")
    M006 = ("M006", ERROR, "Scrittura interrotta: nessun file in {value} è stato cambiato ({detail}).",
            "Risolvere la causa (spazio su disco, permessi) e rilanciare: i risultati precedenti sono intatti.")
    M007 = ("M007", WARNING, "Un'elaborazione precedente in {value} era stata interrotta: {detail}.",
            "Nessuna azione: i file nella cartella sono quelli di un'elaborazione completa.")
    M008 = ("M008", ERROR, "Impossibile scrivere nella cartella temporanea {value}: {detail}.",
            "Liberare spazio su disco o indicare un'altra cartella temporanea (variabile d'ambiente TMPDIR, "
            "su Windows TEMP) e rilanciare: nessun file è stato cambiato.")

    # -- OIV workbook ----------------------------------------------------------------------
    O001 = ("O001", ERROR, "Il file non è un consolidato pegxl per questo piano: {detail}.",
            "Usare il consolidato prodotto da `pegxl merge` e compilato dall'OIV.")
    O002 = ("O002", ERROR, "Valutazione OIV {value} fuori dall'intervallo 0-100.",
            "Scrivere un numero tra 0 e 100, «Non valutabile» (con le Note OIV) o lasciare vuoto.")
    O003 = ("O003", ERROR, "Una cella non modificabile è stata cambiata: «{column}» era «{expected}», ora «{found}».",
            "Solo Valutazione OIV % e Note OIV si compilano.")
    O004 = ("O004", ERROR, "La riga di «{record}» manca o è stata aggiunta nel foglio «{sheet}».",
            "Ripristinare le righe del consolidato originale.")
    O005 = ("O005", WARNING, "La Valutazione OIV ({value}) differisce dal Grado del settore ({expected}) e mancano le Note OIV.",
            "Motivare la valutazione nelle Note OIV.")
    O006 = ("O006", ERROR, "La cella non è quella scritta dal consolidamento archiviato ({detail}): "
                           "«{column}» era «{expected}», ora «{found}».",
            "Solo Valutazione OIV % e Note OIV si compilano: usare il consolidato prodotto da `pegxl merge`.")
    O007 = ("O007", ERROR, "La riga di «{record}» del foglio «{sheet}» non corrisponde al consolidamento "
                           "archiviato ({detail}).",
            "Ripristinare le righe del consolidato prodotto da `pegxl merge`.")
    O008 = ("O008", ERROR, "Il registro nascosto «_pegxl_valori» non è quello scritto dal consolidamento "
                           "archiviato ({detail}): {value}.",
            "Il file è stato ricostruito o alterato: usare il consolidato prodotto da `pegxl merge`.")
    O009 = ("O009", WARNING, "Consolidato controllato solo rispetto a sé stesso: {detail}.",
            "Indicare l'archivio dei cicli usato da `pegxl merge` con --db (predefinito: "
            "pegxl-archivio.sqlite accanto al piano) per confrontare ogni valore con quanto scritto.")
    O010 = ("O010", ERROR, "«Non valutabile» come Valutazione OIV richiede le Note OIV.",
            "Scrivere nelle Note OIV perché l'obiettivo non è valutabile.")
    O011 = ("O011", WARNING, "Valutazione OIV {value} su un obiettivo già escluso dalla media ({detail}): "
                             "non cambia il risultato.",
            "Lasciare vuota la Valutazione OIV dell'obiettivo, o chiedere al settore di correggere lo Stato.")
    O012 = ("O012", ERROR, "Il consolidato non è tra quelli scritti da `pegxl merge` e archiviati in {value}: "
                           "{detail}.",
            "Usare il consolidato prodotto da `pegxl merge` e archiviato; se è stato prodotto con un altro "
            "archivio indicarlo con --db.")

    # -- e-mail ------------------------------------------------------------------------------
    E001 = ("E001", ERROR, "Il settore «{record}» non ha un indirizzo e-mail valido ({value}).",
            "Compilare la colonna Email del foglio Settori.")
    E002 = ("E002", ERROR, "Invio a {value} non riuscito: {detail}.",
            "Verificare l'indirizzo e il server di posta e rilanciare: i messaggi già inviati non saranno ripetuti.")
    E003 = ("E003", ERROR, "Manca il modello del settore «{record}» nella cartella {value}.",
            "Generare i modelli con `pegxl templates`.")
    E004 = ("E004", ERROR, "Connessione al server di posta {value} non riuscita: {detail}.",
            "Verificare host, porta, sicurezza (STARTTLS/SSL), utente e password.")
    E005 = ("E005", ERROR, "Il testo del messaggio non è valido: {detail}.",
            "Correggere il modello del messaggio.")
    E006 = ("E006", ERROR, "Il file {value} non è del settore «{record}»: {detail}. Non è stato allegato.",
            "Rigenerare i modelli con `pegxl templates` (per i solleciti, le copie annotate con "
            "`pegxl validate --annotate`) e rilanciare.")
    E007 = ("E007", ERROR, "Il server di posta {value} non ha completato il messaggio entro {detail} secondi "
            "(connessione, saluto, accesso e invio): interrotto.",
            "Verificare il server di posta o allungare il tempo con --smtp-timeout o PEGXL_SMTP_TIMEOUT e "
            "rilanciare: i messaggi già inviati non saranno ripetuti.")
    E008 = ("E008", WARNING, "I messaggi sono stati inviati, ma lo stato «inviato» dei settori non è stato "
                             "registrato nell'archivio {value}: {detail}.",
            "Verificare il percorso indicato con --db (o usare --no-archive): i messaggi inviati non saranno "
            "ripetuti.")

    # -- archive ------------------------------------------------------------------------------
    A001 = ("A001", ERROR, "Archivio {value} non leggibile o non scrivibile: {detail}.",
            "Verificare il percorso indicato con --db.")
    A002 = ("A002", WARNING, "Nessun dato in archivio per {value}.",
            "Verificare codice e anni richiesti.")
    A003 = ("A003", ERROR, "Il ciclo non è stato archiviato in {value} ({detail}): nessun file è stato scritto.",
            "Verificare il percorso indicato con --db, o usare --no-archive per non archiviare.")
    A004 = ("A004", ERROR, "L'archivio {value} è stato alterato: i valori scritti dal {detail} non corrispondono "
                           "alla loro impronta.",
            "Ripristinare l'archivio da una copia di sicurezza: senza, il consolidato dell'OIV non si può verificare.")
    A007 = ("A007", WARNING, "I valori non sono confrontati con la rilevazione precedente: {detail}",
            "Verificare il percorso indicato con --db o ripristinare l'archivio; il resto del controllo è completo.")
    A010 = ("A010", ERROR, "Nessun ciclo «{value}» nell'archivio {detail}.",
            "Indicare l'id di un ciclo (elencati da `pegxl history --cycles`), l'identificativo di un "
            "consolidamento o una Fase del ciclo; con --db l'archivio giusto.")
    A011 = ("A011", WARNING, "Lo stato delle consegne non è stato registrato nell'archivio {value}: {detail}.",
            "Verificare il percorso indicato con --db, o usare --no-archive per non registrarlo.")

    # -- Excel add-in ---------------------------------------------------------------------------
    X001 = ("X001", ERROR, "Per questo comando serve l'estensione Excel: {detail}.",
            "Installare con: pip install \"pegxl[excel]\".")

    # -- documents ---------------------------------------------------------------------------
    D001 = ("D001", ERROR, "LibreOffice non è stato trovato: il PDF di {value} non può essere creato.",
            "Per creare il PDF {hint_install}, oppure indicare il programma con la variabile d'ambiente "
            "PEGXL_SOFFICE, e rilanciare; senza --pdf si ottiene il solo documento .docx.")
    D002 = ("D002", ERROR, "La conversione in PDF di {value} non è riuscita: {detail}.",
            "Aprire il .docx con LibreOffice Writer o Word per vedere se si apre, poi rilanciare; "
            "il documento .docx è già scritto.")
    D003 = ("D003", ERROR, "Il file {value} non è un consolidato pegxl di questo piano: {detail}.",
            "Indicare il consolidato finale scritto da `pegxl oiv` (o il consolidato di `pegxl merge`) "
            "del piano indicato con --plan.")
    D004 = ("D004", ERROR, "Il settore «{value}» non è nel piano.{suggestion}",
            "Usare un Codice settore del foglio Settori del piano.")

    # -- usage ------------------------------------------------------------------------------------
    U001 = ("U001", ERROR, "Uso non corretto: {detail}.",
            "Vedere `pegxl --help`.")
    U002 = ("U002", ERROR, "«{value}» esiste già: non viene sovrascritto.",
            "Indicare un altro percorso o usare --force.")
    U005 = ("U005", ERROR, "Il codice «{value}» non è un obiettivo, un indicatore, un settore né «ente» del "
                           "file.{suggestion}",
            "Indicare un obiettivo (2024_S08_04), un indicatore (2024_S08_04:3), un settore (S08) o ente, "
            "come scritti nel consolidato.")
    U006 = ("U006", ERROR, "L'obiettivo di «{value}» non ha questo indicatore (indicatori: {detail}).",
            "Indicare il numero di uno degli indicatori dell'obiettivo, es. 2024_S08_04:1.")
    U007 = ("U007", ERROR, "L'obiettivo «{value}» è trasversale, assegnato ai settori {detail}: "
                           "non si sa di quale settore spiegare il grado.",
            "Indicare il settore davanti al codice, es. {example}.")
    U008 = ("U008", ERROR, "Il settore «{value}» è nel piano ma non è nel consolidato ({detail}).",
            "Spiegare un settore consolidato, o consolidarlo con `pegxl merge` e rilanciare.")
    U009 = ("U009", ERROR, "Confronto rifiutato: {detail}.",
            "Confrontare due restituzioni dello stesso settore, ente e anno (una nuova consegna e la "
            "precedente), o due cicli archiviati dello stesso ente e anno.")
    U010 = ("U010", ERROR, "Il file {value} non si può confrontare: {detail}.",
            "Controllarlo con `pegxl validate --plan ...`: deve essere un modello pegxl di questo piano, leggibile.")

    def __init__(self, code: str, severity: str, template: str, hint: str):
        self.code = code
        self.severity = severity
        self.template = template
        self.hint = hint

    def format(self, **fields: Any) -> str:
        return _safe_format(self.template, fields)

    @classmethod
    def of(cls, code: str) -> ErrorCode:
        """The member whose code is `code` (KeyError for an unknown or retired one)."""
        return cls[code]


# Codes once in the catalogue and withdrawn: never reused for another problem.
RETIRED: dict[str, str] = {
    "P025": "a row without a code, ignored: never reported (such a row is P003)",
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _safe_format(template: str, fields: dict[str, Any]) -> str:
    return template.format_map(_Blank({k: ("" if v is None else v) for k, v in fields.items()}))


@dataclass
class Finding:
    """One problem, located. `cell` is an A1 reference on `sheet`."""

    code: str
    severity: str
    message: str
    hint: str = ""
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None
    row: int | None = None
    column: str | None = None
    record: str | None = None
    value: Any = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def is_(self, *codes: ErrorCode) -> bool:
        """Whether this finding carries one of `codes` (compare members, never code strings)."""
        return any(self.code == c.code for c in codes)

    def where(self) -> str:
        parts = []
        if self.sheet:
            parts.append(f"foglio «{self.sheet}»")
        if self.cell:
            parts.append(f"cella {self.cell}")
        elif self.row:
            parts.append(f"riga {self.row}")
        if self.column and not self.cell:
            parts.append(f"colonna «{self.column}»")
        if self.record:
            parts.append(f"[{self.record}]")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        v = d.get("value")
        if v is not None and not isinstance(v, (str, int, float, bool)):
            d["value"] = str(v)
        elif isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            d["value"] = str(v)   # JSON has no NaN nor Infinity: a strict parser would refuse the report
        return d

    def __str__(self) -> str:
        where = self.where()
        return f"{self.code} {self.severity}: {self.message}" + (f" ({where})" if where else "")


def finding(code: ErrorCode, *, file: str | None = None, sheet: str | None = None,
            cell: str | None = None, row: int | None = None, column: str | None = None,
            record: str | None = None, value: Any = None, **fields: Any) -> Finding:
    """Build a Finding for `code`, rendering its Italian message."""
    all_fields = dict(fields, sheet=sheet, column=column, record=record,
                      value=_show(value) if "value" not in fields else fields["value"])
    return Finding(code=code.code, severity=code.severity,
                   message=code.format(**all_fields),
                   hint=_safe_format(code.hint, all_fields),
                   file=file, sheet=sheet, cell=cell, row=row, column=column,
                   record=record, value=value)


def _show(value: Any) -> str:
    """A value as an Italian user reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0):
            return value.strftime("%d/%m/%Y")
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, _dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}".replace(".", ",")
    return str(value)


show_value = _show


_OS_ERRORS = {
    "ENOENT": "il file o la cartella non esiste",
    "EACCES": "permesso negato",
    "EPERM": "operazione non permessa",
    "EISDIR": "è una cartella, non un file",
    "ENOTDIR": "una parte del percorso non è una cartella",
    "ENOSPC": "spazio su disco esaurito",
    "EDQUOT": "spazio disponibile (quota) esaurito",
    "EROFS": "il disco è in sola lettura",
    "EBUSY": "il file è in uso",
    "ENAMETOOLONG": "il nome del file è troppo lungo",
    "EMFILE": "troppi file aperti",
    "EIO": "errore di lettura o scrittura sul disco",
    "ETIMEDOUT": "tempo scaduto",
    "ECONNREFUSED": "connessione rifiutata",
}


def os_detail(exc: BaseException) -> str:
    """An operating-system error as an Italian user reads it (the system's own text is
    English on most servers): "permesso negato", not "Permission denied"."""
    code = getattr(exc, "errno", None)
    name = _errno.errorcode.get(code) if isinstance(code, int) else None
    if name in _OS_ERRORS:
        return _OS_ERRORS[name]
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class PegxlError(Exception):
    """A problem that stops a command: carries its findings and the exit status."""

    def __init__(self, findings: Finding | Iterable[Finding], exit_code: int = EXIT_UNUSABLE):
        self.findings = [findings] if isinstance(findings, Finding) else list(findings)
        self.exit_code = exit_code
        super().__init__("; ".join(str(f) for f in self.findings))


def count(findings: Iterable[Finding]) -> tuple[int, int]:
    """(errors, warnings)."""
    e = w = 0
    for f in findings:
        if f.is_error:
            e += 1
        else:
            w += 1
    return e, w


def catalogue() -> list[dict[str, str]]:
    """The whole catalogue, for documentation and `pegxl errori`."""
    return [{"code": c.code, "severity": c.severity, "message": c.template, "hint": c.hint}
            for c in ErrorCode]


def findings_json(findings: Iterable[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=2)
