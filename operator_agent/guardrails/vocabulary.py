"""The words of irreversible and safe actions, in English, German, French, Spanish and Portuguese.

A label (a button's text, an aria-label, a dialog title...) is first normalised: case-folded,
accents removed, punctuation turned into spaces. Then :func:`read_label` sorts what it says:

* *strong* phrases name an action that cannot be undone whatever the form does (pay, delete,
  approve, transfer, "cancel subscription", "save bank details"...);
* *generic* phrases commit data (submit, save, update): they count unless the action is a
  read-only GET;
* *safe object* phrases neutralise a verb because of its object ("remove filter", "sign in",
  "save draft", "accept cookies") and are cut out before the verbs are looked for, so
  "save draft and send" still says *send*;
* *dismiss* labels close a dialog or a form without doing anything ("Cancel", "Close", "No");
  they must be the whole label, so "Cancel order" is not one;
* *safe action* labels start with a verb that only reads or moves ("Search", "Next", "Preview",
  "Log in", "Export"); they exempt a button from the rule that every POST submission needs approval,
  but never outweigh a strong or generic phrase in the same label.

Every pattern is compiled once, at import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

__all__ = ["LabelReading", "normalize", "read_label", "read_statement"]


def normalize(text: str) -> str:
    """Case-fold, strip accents and punctuation, and collapse spaces.

    ``"Löschen?"`` becomes ``"loschen"``, ``"Añadir línea"`` becomes ``"anadir linea"``.
    """
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", plain).split())


_NON_WORD: Final = re.compile(r"[^\w]+|_+")


def _any(*alternatives: str) -> re.Pattern[str]:
    """One word-bounded pattern matching any of the alternatives (regex syntax allowed)."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


_PLAIN_WORD: Final = re.compile(r"[a-z]+")


class _Phrases:
    """A set of phrases, found quickly: plain words by set lookup, the rest by one regex."""

    def __init__(self, *alternatives: str) -> None:
        self.words = frozenset(a for a in alternatives if _PLAIN_WORD.fullmatch(a))
        rest = [a for a in alternatives if a not in self.words]
        self.pattern = _any(*rest) if rest else None

    def find(self, text: str) -> tuple[str, ...]:
        """The phrases found in a normalised text, each once, plain words first."""
        found = [token for token in text.split() if token in self.words]
        if self.pattern is not None:
            found += [match.group(0) for match in self.pattern.finditer(text)]
        return tuple(dict.fromkeys(found))


# Articles and possessives that may sit between a verb and its object.
_DET = (
    r"(?:(?:the|this|that|my|your|our|all|a|an|der|die|das|den|dem|diese[nrs]?|alle|le|la|les|l|ce|cette|"
    r"mon|ma|mes|votre|vos|el|los|las|este|esta|mi|su|sus|o|os|as|meu|minha|seu|sua|todos|todas|tous|"
    r"toutes)\s+)*"
)

# Objects whose change moves money: saving or changing them is irreversible in effect.
_BANK_OBJECTS = (
    r"bank\w*|iban|bic|swift|routing number|account number|sort code|payment details|payment method|"
    r"payout\w*|kontodaten|kontoverbindung|zahlungsdaten|coordonnees bancaires|rib|donnees bancaires|"
    r"datos bancarios|cuenta bancaria|dados bancarios|conta bancaria"
)
_BANK_VERBS = (
    r"save|update|change|replace|store|set|confirm|speichern|andern|aktualisieren|ubernehmen|enregistrer|"
    r"modifier|mettre a jour|changer|guardar|actualizar|cambiar|salvar|atualizar|alterar|mudar"
)

_CANCEL_OBJECTS = (
    r"subscriptions?|orders?|bookings?|reservations?|payments?|transfers?|contracts?|memberships?|plans?|"
    r"accounts?|invoices?|polic(?:y|ies)|shipments?|appointments?|renewals?|direct debits?|mandates?|"
    r"transactions?|trips?|flights?|services?|licen[cs]es?|"
    r"abo|abonnements?|bestellung(?:en)?|buchung(?:en)?|zahlung(?:en)?|vertrag|auftrag|"
    r"commandes?|reservations?|paiements?|virements?|contrats?|factures?|"
    r"suscripcion(?:es)?|pedidos?|reservas?|pagos?|transferencias?|contratos?|facturas?|"
    r"assinaturas?|pagamentos?|faturas?"
)

_CLOSE_OBJECTS = (
    r"accounts?|tickets?|cases?|period|month|year|quarter|books|positions?|deals?|requests?|issues?|"
    r"incidents?|konto|monat|periode|jahr|fall|compte|periode|exercice|dossier|cuenta|periodo|caso|"
    r"conta|chamado"
)

# -- strong: irreversible whatever the form method --------------------------------------------------------
_STRONG: Final = _Phrases(
    # English
    r"pay(?:\s+now)?",
    r"(?:make|process|authori[sz]e|release|initiate|schedule|execute|approve)\s+" + _DET + r"payments?",
    r"send",
    r"delete",
    r"remove",
    r"erase",
    r"destroy",
    r"purge",
    r"wipe",
    r"discard",
    r"approve",
    r"authori[sz]e",
    r"accept",
    r"grant",
    r"confirm",
    r"transfer",
    r"wire",
    r"remit",
    r"purchase",
    r"buy",
    r"(?:place|submit|complete|confirm)\s+" + _DET + r"orders?",
    r"order\s+now",
    r"checkout\s+now",
    r"subscribe",
    r"upgrade",
    r"publish",
    r"go\s+live",
    r"release",
    r"sign",
    r"e\s*sign",
    r"countersign",
    r"close\s+" + _DET + r"(?:" + _CLOSE_OBJECTS + r")",
    r"cancel\s+" + _DET + r"(?:" + _CANCEL_OBJECTS + r")",
    r"submit\s+(?:\w+\s+){0,3}?for\s+(?:payment|approval|release|booking)",
    r"mark\s+(?:as\s+)?(?:closed|resolved|paid|done|complete|completed|shipped|delivered|approved|sent)",
    r"reject",
    r"decline",
    r"deny",
    r"deactivate",
    r"disable",
    r"suspend",
    r"terminate",
    r"revoke",
    r"refund",
    r"void",
    r"book(?:\s+now|\s+"
    + _DET
    + r"(?:flights?|hotels?|rooms?|trips?|tickets?|appointments?|meetings?|seats?|tables?|travel|it))",
    r"(?<!\w\s)book$",
    r"execute",
    r"finali[sz]e",
    r"post",
    r"unsubscribe",
    r"withdraw",
    r"reverse\s+"
    + _DET
    + r"(?:payments?|charges?|transactions?|entr(?:y|ies)|postings?|bookings?|transfers?)",
    r"write\s+off",
    r"charge",
    r"bill",
    r"settle",
    r"renew",
    r"top\s+up",
    r"dispatch",
    r"ship(?:\s+now|\s+" + _DET + r"\w+)?",
    r"fulfil+",
    r"deliver",
    r"notify",
    r"invite",
    r"share",
    r"issue\s+" + _DET + r"(?:\w+\s+)?(?:notes?|invoices?|refunds?|payments?|certificates?|cards?|credits?|"
    r"orders?|po|purchase\s+orders?|quotes?|tickets?)",
    r"reset\s+" + _DET + r"(?:passwords?|pins?|2fa|mfa|credentials|accounts?|keys?|tokens?|api\s+keys?)",
    r"regenerate",
    r"rotate\s+" + _DET + r"(?:keys?|secrets?|tokens?|credentials)",
    r"empty\s+" + _DET + r"(?:trash|bin|recycle\s+bin|folder|cart|basket)",
    r"merge",
    r"overwrite",
    r"replace\s+all",
    r"restore\s+" + _DET + r"(?:backup|snapshot|version)",
    r"lock\s+" + _DET + r"(?:period|month|year|books|account)",
    r"file\s+" + _DET + r"(?:return|claim|report|taxes|tax\s+return)",
    r"transmit",
    # German (further)
    r"abrechnen",
    r"belasten",
    r"fakturieren",
    r"einladen",
    r"benachrichtigen",
    r"zusammenfuhren",
    r"uberschreiben",
    r"leeren",
    r"ausstellen",
    r"liefern",
    r"teilen",
    # French (further)
    r"facturer",
    r"debiter",
    r"livrer",
    r"inviter",
    r"notifier",
    r"fusionner",
    r"ecraser",
    r"vider",
    r"emettre",
    r"partager",
    r"transferer",
    # Spanish and Portuguese (further)
    r"cobrar",
    r"facturar",
    r"faturar",
    r"despachar",
    r"invitar",
    r"convidar",
    r"notificar",
    r"fusionar",
    r"mesclar",
    r"sobrescribir",
    r"sobrescrever",
    r"vaciar",
    r"esvaziar",
    r"emitir",
    r"compartir",
    r"compartilhar",
    # German
    r"(?:jetzt\s+)?(?:be)?zahlen",
    r"zahlung\s+(?:ausfuhren|freigeben|anweisen|veranlassen|senden)",
    r"uberweisen",
    r"uberweisung\s+(?:ausfuhren|senden|freigeben|absenden)",
    r"absenden",
    r"abschicken",
    r"einreichen",
    r"ubermitteln",
    r"(?:ver)?senden",
    r"verschicken",
    r"loschen",
    r"entfernen",
    r"genehmigen",
    r"freigeben",
    r"zustimmen",
    r"akzeptieren",
    r"autorisieren",
    r"bestatigen",
    r"kaufen",
    r"bestellen",
    r"kostenpflichtig\s+bestellen",
    r"(?:ver)?buchen",
    r"veroffentlichen",
    r"unterschreiben",
    r"unterzeichnen",
    r"signieren",
    r"kundigen",
    r"(?:" + _CLOSE_OBJECTS + r")\s+(?:schliessen|auflosen)",
    r"stornieren",
    r"ablehnen",
    r"zuruckweisen",
    r"deaktivieren",
    r"sperren",
    r"widerrufen",
    r"(?:ruck)?erstatten",
    r"ausfuhren",
    r"durchfuhren",
    r"abschliessen",
    # French
    r"payer",
    r"regler",
    r"(?:effectuer|valider|proceder\s+au)\s+" + _DET + r"(?:paiement|reglement|virement)",
    r"virer",
    r"soumettre",
    r"envoyer",
    r"transmettre",
    r"expedier",
    r"supprimer",
    r"effacer",
    r"retirer",
    r"enlever",
    r"approuver",
    r"autoriser",
    r"accepter",
    r"confirmer",
    r"acheter",
    r"commander",
    r"passer\s+" + _DET + r"commande",
    r"reserver",
    r"souscrire",
    r"publier",
    r"signer",
    r"cloturer",
    r"resilier",
    r"annuler\s+" + _DET + r"(?:" + _CANCEL_OBJECTS + r")",
    r"fermer\s+" + _DET + r"(?:" + _CLOSE_OBJECTS + r")",
    r"rejeter",
    r"refuser",
    r"desactiver",
    r"bloquer",
    r"revoquer",
    r"rembourser",
    r"executer",
    r"finaliser",
    r"comptabiliser",
    # Spanish
    r"pagar",
    r"(?:realizar|efectuar|hacer)\s+" + _DET + r"(?:pago|transferencia|pedido|compra)",
    r"enviar",
    r"presentar",
    r"remitir",
    r"tramitar",
    r"eliminar",
    r"borrar",
    r"suprimir",
    r"quitar",
    r"aprobar",
    r"autorizar",
    r"aceptar",
    r"confirmar",
    r"transferir",
    r"comprar",
    r"reservar",
    r"contratar",
    r"suscribir(?:se)?",
    r"publicar",
    r"firmar",
    r"cerrar\s+" + _DET + r"(?:" + _CLOSE_OBJECTS + r")",
    r"dar\s+de\s+baja",
    r"cancelar\s+" + _DET + r"(?:" + _CANCEL_OBJECTS + r")",
    r"anular\s+" + _DET + r"\w+",
    r"rechazar",
    r"desactivar",
    r"bloquear",
    r"revocar",
    r"reembolsar",
    r"devolver",
    r"ejecutar",
    r"finalizar",
    r"contabilizar",
    r"asentar",
    # Portuguese
    r"(?:efetuar|realizar|fazer)\s+" + _DET + r"(?:pagamento|transferencia|pedido|compra)",
    r"submeter",
    r"remeter",
    r"excluir",
    r"apagar",
    r"remover",
    r"aprovar",
    r"aceitar",
    r"assinar",
    r"encerrar",
    r"fechar\s+" + _DET + r"(?:" + _CLOSE_OBJECTS + r")",
    r"rejeitar",
    r"recusar",
    r"desativar",
    r"revogar",
    r"estornar",
    r"executar",
    r"lancar",
    # Changing where money goes, in any language.
    r"(?:" + _BANK_VERBS + r")(?:\s+\w+){0,3}?\s+(?:" + _BANK_OBJECTS + r")",
    r"(?:"
    + _BANK_OBJECTS
    + r")(?:\s+\w+){0,2}?\s+(?:speichern|andern|aktualisieren|enregistrer|guardar|salvar)",
)

# -- statement only: how a dialog announces an irreversible outcome ----------------------------------------
_STATEMENT: Final = _Phrases(
    r"(?:will\s+be|is|are|gets?)\s+(?:permanently\s+)?(?:sent|deleted|removed|paid|transferred|submitted|"
    r"approved|rejected|cancell?ed|published|charged|debited|released|posted|revoked|refunded|wired)",
    r"cannot\s+be\s+undone|can\s*t\s+be\s+undone|permanently|irreversible|no\s+way\s+back",
    r"payment\s+run",
    r"are\s+you\s+sure|do\s+you\s+really\s+want|sind\s+sie\s+sicher|wirklich|etes\s+vous\s+sur|"
    r"voulez\s+vous\s+vraiment|esta\s+seguro|estas\s+seguro|realmente|tem\s+certeza",
    r"(?:geloscht|entfernt|ubermittelt|uberwiesen|bezahlt|gesendet|versendet|verschickt|storniert|gekundigt|"
    r"freigegeben|abgelehnt|eingereicht|veroffentlicht|gebucht|belastet)",
    r"nicht\s+(?:mehr\s+)?ruckgangig|endgultig|unwiderruflich|zahlungslauf",
    r"(?:supprimee?s?|envoyee?s?|payee?s?|transferee?s?|annulee?s?|rejetee?s?|approuvee?s?|publiee?s?|"
    r"debitee?s?|virement)",
    r"definitive(?:ment)?|irreversible|ne\s+peut\s+pas\s+etre\s+annulee?",
    r"(?:eliminad[oa]s?|enviad[oa]s?|pagad[oa]s?|transferid[oa]s?|cancelad[oa]s?|rechazad[oa]s?|"
    r"aprobad[oa]s?|publicad[oa]s?|cobrad[oa]s?|excluid[oa]s?|rejeitad[oa]s?|aprovad[oa]s?|debitad[oa]s?)",
    r"no\s+se\s+puede\s+deshacer|nao\s+pode\s+ser\s+desfeita|irreversivel|permanente(?:mente)?|"
    r"transferencia",
)

# -- generic: commits data; counts unless the action is a read-only GET -----------------------------------
_GENERIC: Final = _Phrases(
    r"submit",
    r"save",
    r"update",
    r"apply\s+changes",
    r"speichern",
    r"aktualisieren",
    r"ubernehmen",
    r"enregistrer",
    r"mettre\s+a\s+jour",
    r"guardar",
    r"actualizar",
    r"salvar",
    r"atualizar",
    r"gravar",
    r"concluir",
    r"valider",
)

# -- safe objects: phrases cut out before the verbs are looked for -----------------------------------------
_REMOVE_VERBS = (
    r"remove|clear|reset|entfernen|zurucksetzen|retirer|enlever|reinitialiser|quitar|limpiar|remover|limpar|"
    r"redefinir"
)
_LINE_OBJECTS = (
    r"filters?|line(?:\s+items?)?|rows?|items?|criteri(?:on|a)|conditions?|sort(?:ing)?|columns?|selection|tags?|"
    r"filter|zeile|position|eintrag|filtre|ligne|element|filtro|linea|fila|elemento|linha|item"
)
_SAFE_OBJECTS: Final = _any(
    r"(?:sign|log)\s*(?:in|up|on|out|off)",
    r"login|logout|signin|signout|signup",
    r"(?:" + _REMOVE_VERBS + r")\s+" + _DET + r"(?:" + _LINE_OBJECTS + r")(?:\s+\d+)?",
    r"(?:" + _LINE_OBJECTS + r")\s+(?:" + _REMOVE_VERBS + r")",
    r"(?:delete|clear|loschen|supprimer|eliminar|borrar|excluir|apagar)\s+"
    + _DET
    + r"(?:filters?|filter|filtre|filtro)",
    r"cancel\s+" + _DET + r"(?:changes|edit|editing|search|upload|selection)",
    r"discard\s+" + _DET + r"(?:changes|edits)",
    r"release\s+notes",
    r"(?:accept|allow|reject|refuse|decline|deny|akzeptieren|zulassen|erlauben|ablehnen|accepter|autoriser|"
    r"refuser|aceptar|permitir|rechazar|aceitar|rejeitar|recusar)"
    r"(?:\s+(?:all|only|optional|necessary|essential|non\s+essential|alle|nur|notwendige|tous|toutes|les|"
    r"todas|todos|las|los|as|os|the))*\s+cookies?",
    r"(?:alle\s+|nur\s+notwendige\s+)?cookies?\s+(?:akzeptieren|zulassen|erlauben|ablehnen)",
    r"mark\s+(?:as\s+)?(?:read|unread|urgent|spam)",
    r"save\s+" + _DET + r"(?:filters?|views?|search(?:es)?|layout|columns|column\s+settings)",
    r"(?:save|speichern|enregistrer|guardar|salvar|gravar)\s+(?:as\s+|als\s+|comme\s+|en\s+|como\s+)?"
    r"(?:a\s+)?(?:draft|entwurf|brouillon|borrador|rascunho)",
    r"(?:als\s+)?entwurf\s+speichern",
    r"(?:enregistrer|guardar|salvar)\s+" + _DET + r"(?:brouillon|borrador|rascunho)",
    r"(?:don\s*t|do\s+not|never|nicht|ne\s+pas|no|nao)\s+\w+",
    r"(?:cerrar|encerrar|fechar|fermer)\s+" + _DET + r"(?:sesion|sessao|session)",
    r"sitzung\s+beenden",
)

# -- dismiss: the whole label closes or abandons -------------------------------------------------------------
_DISMISS: Final = re.compile(
    r"(?:"
    r"x|cancel|close|dismiss|back|go\s+back|no|no\s+thanks|not\s+now|later|maybe\s+later|stay|stay\s+here|"
    r"keep(?:\s+\w+){0,3}|never\s+mind|skip|got\s+it|"
    r"abbrechen|schliessen|zuruck|nein|nein\s+danke|nicht\s+jetzt|spater|behalten|"
    r"annuler|fermer|retour|non|non\s+merci|pas\s+maintenant|plus\s+tard|conserver|"
    r"cancelar|cerrar|volver|atras|ahora\s+no|mas\s+tarde|mantener|anular|"
    r"fechar|voltar|nao|agora\s+nao|mais\s+tarde|manter"
    r")"
)

# -- safe actions: the label starts with a verb that only reads, moves or edits locally -------------------
_SAFE_ACTION: Final = re.compile(
    r"(?:"
    # English
    r"search|find|look\s+up|filter|apply\s+filters?|sort|refresh|reload|preview|print|zoom|undo|customi[sz]e|"
    r"(?:reset|clear)\s+(?:all\s+)?(?:search|filters?|form|view|zoom|columns|sort(?:ing)?|selection)|"
    r"next|continue|previous|prev|back|go\s+back|(?:sign|log)\s*(?:in|on|out|off)|login|logout|verify|"
    r"export|download|save\s+(?:as\s+)?(?:a\s+)?draft|view|show|open|expand|collapse|more|details|edit|"
    r"add\s+(?:a\s+|another\s+)?(?:line|item|row|tag|label|filter)|assign|set\s+assignee|tag|"
    r"help|learn\s+more|copy|attach|choose|select|browse|upload|calculate|recalculate|compare|"
    r"stay\s+signed\s+in|remind\s+me\s+later|"
    # German
    r"suchen|suche|finden|filtern|sortieren|zurucksetzen|vorschau|drucken|weiter|zuruck|anmelden|"
    r"einloggen|abmelden|ausloggen|exportieren|herunterladen|(?:als\s+)?entwurf\s+speichern|bearbeiten|"
    r"anzeigen|offnen|(?:zeile|position)\s+hinzufugen|zuweisen|hilfe|weitere|mehr|"
    # French
    r"rechercher|chercher|filtrer|trier|reinitialiser|apercu|previsualiser|imprimer|suivant|continuer|"
    r"precedent|retour|se\s+connecter|connexion|se\s+deconnecter|deconnexion|exporter|telecharger|"
    r"enregistrer\s+(?:le\s+|comme\s+|en\s+)?brouillon|modifier|afficher|ouvrir|ajouter\s+une\s+ligne|"
    r"assigner|aide|"
    # Spanish
    r"buscar|filtrar|ordenar|restablecer|vista\s+previa|previsualizar|imprimir|siguiente|continuar|"
    r"anterior|volver|iniciar\s+sesion|entrar|acceder|cerrar\s+sesion|salir|exportar|descargar|"
    r"guardar\s+(?:como\s+)?borrador|editar|ver|mostrar|abrir|(?:agregar|anadir)\s+(?:una\s+)?linea|asignar|"
    r"ayuda|"
    # Portuguese
    r"pesquisar|redefinir|pre\s+visualizar|visualizar|proximo|avancar|voltar|acessar|sair|encerrar\s+sessao|"
    r"baixar|salvar\s+(?:como\s+)?rascunho|adicionar\s+(?:uma\s+)?linha|atribuir|ajuda"
    r")\b"
)


# Safe-action words that move a flow forward: inside a dialog that announces something irreversible they
# confirm it ("Continue", "Weiter"), so they do not stop a dialog's confirmation rule.
_FORWARD: Final = re.compile(
    r"(?:continue|next|proceed|ok|okay|go|verify|weiter|fortfahren|continuer|suivant|continuar|siguiente|"
    r"proximo|avancar)\b"
)


@dataclass(frozen=True, slots=True)
class LabelReading:
    """What one label says.

    Attributes:
        strong: The irreversible phrases found, as they read in the normalised label.
        generic: The data-committing phrases found (submit, save, update...).
        dismiss: True when the whole label dismisses (Cancel, Close, No...).
        safe: The safe-action or safe-object phrase the label starts with or consists of, if any.
        forward: True when that safe phrase moves a flow forward (Next, Continue, Weiter...).
    """

    strong: tuple[str, ...] = ()
    generic: tuple[str, ...] = ()
    dismiss: bool = False
    safe: str | None = None
    forward: bool = False

    @property
    def commits(self) -> bool:
        """True when the label names an irreversible or data-committing action."""
        return bool(self.strong or self.generic)


_EMPTY: Final = LabelReading()


@lru_cache(maxsize=4096)
def read_label(label: str) -> LabelReading:
    """Sort what a control's own label says (see the module docstring).

    Args:
        label: Any label text; it is normalised here.
    """
    text = normalize(label)
    if not text:
        return _EMPTY
    if _DISMISS.fullmatch(text):
        return LabelReading(dismiss=True, safe=text)
    objects = [match.group(0) for match in _SAFE_OBJECTS.finditer(text)]
    rest = _SAFE_OBJECTS.sub(" ", text) if objects else text
    strong = _STRONG.find(rest)
    generic = _GENERIC.find(rest)
    safe: str | None = None
    if not strong and not generic:
        start = _SAFE_ACTION.match(text)
        if start is not None:
            safe = start.group(0)
        elif objects:
            safe = objects[0]
    forward = safe is not None and _FORWARD.match(safe) is not None
    return LabelReading(strong=strong, generic=generic, safe=safe, forward=forward)


@lru_cache(maxsize=1024)
def read_statement(text: str) -> LabelReading:
    """Read a free text (a dialog's title or message) for the actions it announces.

    Unlike :func:`read_label`, a statement is never a dismiss or a safe action: a dialog that says
    "Close your account?" must not read as "Close".
    """
    norm = normalize(text)
    if not norm:
        return _EMPTY
    rest = _SAFE_OBJECTS.sub(" ", norm)
    # Outcome phrases are read on the whole text: "no se puede deshacer" must keep its "no".
    strong = tuple(dict.fromkeys((*_STRONG.find(rest), *_STATEMENT.find(norm))))
    generic = _GENERIC.find(rest)
    return LabelReading(strong=strong, generic=generic)
