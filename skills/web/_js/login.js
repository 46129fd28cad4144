// Read the sign-in state of the page in one call: which step it shows, which fields and button to
// use (stamped with attr), and the messages it gives. Called as (attr) => state.
(attr) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true })
    : el.getClientRects().length > 0;
  const mark = (el, role) => { if (el) el.setAttribute(attr, role); return !!el; };
  document.querySelectorAll('[' + attr + ']').forEach((el) => el.removeAttribute(attr));
  const labelOf = (el) => clean([
    el.labels && el.labels.length ? Array.from(el.labels).map((l) => l.innerText).join(' ') : '',
    el.getAttribute('aria-label'), el.getAttribute('placeholder'), el.name, el.id,
    el.getAttribute('autocomplete')].join(' ')).toLowerCase();
  const inputs = Array.from(document.querySelectorAll('input')).filter(visible);
  const password = inputs.find((i) => i.type === 'password');
  const code = inputs.find((i) => i.type !== 'password' && i.type !== 'hidden' && (
    i.autocomplete === 'one-time-code' ||
    /\b(otp|totp|2fa|mfa|one.time|verification|authentication code|security code|6.digit|code)\b/.test(labelOf(i))));
  const textual = (i) => ['text', 'email', 'tel', ''].includes((i.getAttribute('type') || '').toLowerCase());
  let user = null;
  if (password) {
    const form = password.form || document;
    const candidates = Array.from(form.querySelectorAll('input')).filter((i) => visible(i) && textual(i) && i !== code);
    user = candidates.find((i) => /user|email|login|account|e-mail/.test(labelOf(i))) ||
      candidates.filter((i) => i.compareDocumentPosition(password) & Node.DOCUMENT_POSITION_FOLLOWING).pop() || null;
  } else if (!code) {
    user = inputs.find((i) => textual(i) && /user|email|login|account/.test(labelOf(i))) || null;
  }
  const field = password || code || user;
  let submit = null;
  if (field) {
    const form = field.form || field.closest('form') || document;
    const buttons = Array.from(form.querySelectorAll('button, input[type="submit"], [role="button"]')).filter(visible);
    submit = buttons.find((b) => (b.type || '').toLowerCase() === 'submit' &&
        /sign|log|continue|next|verify|submit|confirm/i.test(clean(b.innerText || b.value))) ||
      buttons.find((b) => (b.type || '').toLowerCase() === 'submit') ||
      buttons.find((b) => /sign in|log in|login|continue|next|verify/i.test(clean(b.innerText || b.value))) || null;
  }
  mark(password, 'password'); mark(code, 'code'); mark(user, 'user'); mark(submit, 'submit');
  const messages = [];
  for (const el of document.querySelectorAll('[role="alert"], .form-alert, .alert, .error, .field-error, ' +
      '.notice, [aria-live="assertive"], [id$="-error"]')) {
    if (visible(el) && clean(el.innerText)) messages.push(clean(el.innerText));
  }
  return {
    password: !!password, code: !!code, user: !!user, submit: !!submit,
    messages: Array.from(new Set(messages)).slice(0, 5), url: location.href,
  };
}
