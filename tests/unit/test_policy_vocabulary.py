"""The multilingual label rules: which words name an irreversible action, which labels are safe."""

from __future__ import annotations

import pytest

from operator_agent.guardrails.vocabulary import normalize, read_label, read_statement


def _kind(label: str) -> str:
    reading = read_label(label)
    if reading.strong:
        return "irreversible"
    if reading.generic:
        return "commits"
    if reading.dismiss:
        return "dismiss"
    if reading.safe:
        return "safe"
    return "neutral"


def test_normalize_folds_case_accents_and_punctuation() -> None:
    assert normalize("  Löschen?! ") == "loschen"
    assert normalize("Añadir línea") == "anadir linea"
    assert normalize("Résilier l'abonnement") == "resilier l abonnement"
    assert normalize("SCHLIESSEN / Schließen") == "schliessen schliessen"
    assert normalize("🗑 ×") == ""


@pytest.mark.parametrize(
    "label",
    [
        # English
        "Pay now",
        "Submit for payment",
        "Send to payment run",
        "Send reply",
        "Delete permanently",
        "Remove user",
        "Approve invoice",
        "Confirm submission",
        "Transfer funds",
        "Wire $5,000",
        "Purchase",
        "Buy now",
        "Place order",
        "Publish",
        "Sign contract",
        "Close account",
        "Cancel subscription",
        "Cancel order",
        "Reject",
        "Deactivate",
        "Revoke access",
        "Issue refund",
        "Book flight",
        "Execute payment run",
        "Finalize invoice",
        "Post journal entry",
        "Release payment",
        "Save bank details",
        "Update bank account",
        "Mark as paid",
        "Mark as closed",
        "Void invoice",
        # German
        "Jetzt bezahlen",
        "Zur Zahlung einreichen",
        "Endgültig löschen",
        "Rechnung freigeben",
        "Kostenpflichtig bestellen",
        "Abo kündigen",
        "Konto schließen",
        "Überweisung ausführen",
        "Bankverbindung speichern",
        "Ablehnen",
        # French
        "Payer maintenant",
        "Supprimer",
        "Envoyer la réponse",
        "Approuver",
        "Résilier l'abonnement",
        "Passer la commande",
        "Annuler la commande",
        "Enregistrer les coordonnées bancaires",
        "Rejeter",
        # Spanish
        "Pagar ahora",
        "Eliminar",
        "Enviar respuesta",
        "Aprobar factura",
        "Cancelar suscripción",
        "Realizar pedido",
        "Cerrar cuenta",
        "Guardar datos bancarios",
        "Rechazar",
        # Portuguese
        "Pagar agora",
        "Excluir",
        "Enviar para pagamento",
        "Aprovar",
        "Cancelar assinatura",
        "Encerrar conta",
        "Salvar dados bancários",
        "Rejeitar",
        "Estornar",
        # Found missing on a held-out page, then added
        "Charge card",
        "Ship now",
        "Dispatch order",
        "Invite user",
        "Archive and notify customer",
        "Issue credit note",
        "Reset password",
        "Empty trash",
        "Merge duplicates",
        "Overwrite",
        "Emitir factura",
        "Faturar pedido",
    ],
)
def test_irreversible_labels(label: str) -> None:
    assert _kind(label) == "irreversible", read_label(label)


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("Cancel", "dismiss"),
        ("Close", "dismiss"),
        ("Go back", "dismiss"),
        ("No", "dismiss"),
        ("Keep subscription", "dismiss"),
        ("Abbrechen", "dismiss"),
        ("Schließen", "dismiss"),
        ("Annuler", "dismiss"),
        ("Fermer", "dismiss"),
        ("Cancelar", "dismiss"),
        ("Cerrar", "dismiss"),
        ("Fechar", "dismiss"),
        ("Search", "safe"),
        ("Save draft", "safe"),
        ("Save as draft", "safe"),
        ("Preview", "safe"),
        ("Next", "safe"),
        ("Filter", "safe"),
        ("Sort by date", "safe"),
        ("Export CSV", "safe"),
        ("Download PDF", "safe"),
        ("Log in", "safe"),
        ("Sign in", "safe"),
        ("Sign out now", "safe"),
        ("Add line", "safe"),
        ("Remove filter", "safe"),
        ("Remove line 3", "safe"),
        ("Remove tag urgent", "safe"),
        ("Clear all filters", "safe"),
        ("Cancel changes", "safe"),
        ("Don't save", "safe"),
        ("Accept all cookies", "safe"),
        ("Release notes", "safe"),
        ("Als Entwurf speichern", "safe"),
        ("Filter entfernen", "safe"),
        ("Zeile hinzufügen", "safe"),
        ("Enregistrer le brouillon", "safe"),
        ("Retirer le filtre", "safe"),
        ("Guardar borrador", "safe"),
        ("Quitar filtro", "safe"),
        ("Iniciar sesión", "safe"),
        ("Salvar rascunho", "safe"),
        ("Remover filtro", "safe"),
        ("Encerrar sessão", "safe"),
        ("Save", "commits"),
        ("Submit", "commits"),
        ("Update", "commits"),
        ("Valider", "commits"),
        ("Payments", "neutral"),
        ("Approvals", "neutral"),
        ("Deleted items", "neutral"),
        ("Sent", "neutral"),
        ("Address book", "neutral"),
        ("Order history", "neutral"),
        ("Yes", "neutral"),
        ("Reset search", "safe"),
        ("Clear filters", "safe"),
        ("Save filter", "safe"),
        ("Save view", "safe"),
        ("Email", "neutral"),
        ("Debit", "neutral"),
        ("Import date", "neutral"),
    ],
)
def test_label_kinds(label: str, kind: str) -> None:
    assert _kind(label) == kind, read_label(label)


@pytest.mark.parametrize(
    "label",
    ["Save draft and send", "Search and delete duplicates", "Remove filter and pay", "Preview & approve"],
)
def test_a_safe_phrase_never_hides_an_irreversible_word(label: str) -> None:
    assert read_label(label).strong


def test_dismiss_must_be_the_whole_label() -> None:
    assert read_label("Cancel").dismiss
    assert not read_label("Cancel order").dismiss
    assert not read_label("Close ticket").dismiss


def test_forward_words_are_marked() -> None:
    assert read_label("Continue").forward
    assert read_label("Weiter").forward
    assert not read_label("Search").forward


@pytest.mark.parametrize(
    "text",
    [
        "Submit this invoice for payment?",
        "Delete invoice INV-1042? This cannot be undone.",
        "Change bank details of Acme GmbH?",
        "Are you sure?",
        "23 Rechnungen werden an die Bank übermittelt.",
        "Cette action est définitive.",
        "Esta acción no se puede deshacer.",
        "A fatura será excluída.",
    ],
)
def test_statements_that_announce_an_irreversible_outcome(text: str) -> None:
    assert read_statement(text).commits


@pytest.mark.parametrize(
    "text",
    [
        "What's new in Back Office. Bulk approval for up to 50 invoices at once.",
        "You have unsaved changes. Leave this page?",
        "For your security you will be signed out in 2 minutes because of inactivity.",
        "Choose due date",
    ],
)
def test_harmless_statements(text: str) -> None:
    assert not read_statement(text).commits


def test_a_statement_is_never_a_dismiss() -> None:
    reading = read_statement("Close your account?")
    assert not reading.dismiss
    assert reading.strong
