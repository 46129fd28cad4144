// The validation errors a page shows: alerts, error summaries, inline field errors, invalid fields.
// Called as () => [messages], in page order, without duplicates.
() => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const visible = (el) => el.checkVisibility
    ? el.checkVisibility({ visibilityProperty: true, opacityProperty: true })
    : el.getClientRects().length > 0;
  const out = [];
  const add = (text) => {
    text = clean(text);
    if (text && text.length <= 300 && !out.includes(text)) out.push(text);
  };
  const selectors = '.field-error, .invalid-feedback, .error-message, .form-error, .help-block.error, ' +
    '[class*="error-text"], [data-error], .error:not(input):not(form)';
  for (const el of document.querySelectorAll(selectors)) if (visible(el)) add(el.innerText);
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) {
    if (!visible(el)) continue;
    const ids = (el.getAttribute('aria-describedby') || el.getAttribute('aria-errormessage') || '').split(/\s+/);
    const label = el.labels && el.labels.length ? clean(el.labels[0].innerText) : clean(el.getAttribute('aria-label'));
    for (const id of ids) {
      const n = id && document.getElementById(id);
      if (n && visible(n) && !/^for example/i.test(clean(n.innerText))) {
        const text = clean(n.innerText);
        if (!out.includes(text)) add(label && !text.toLowerCase().includes(label.toLowerCase()) ? `${label}: ${text}` : text);
      }
    }
  }
  for (const el of document.querySelectorAll('[role="alert"], .error-summary, .alert-danger, .alert-error, .flash-error')) {
    if (!visible(el)) continue;
    const heading = el.querySelector('h1, h2, h3, h4, p');
    const items = Array.from(el.querySelectorAll('li')).map((li) => clean(li.innerText));
    if (items.length) {
      if (heading) add(heading.innerText);
      items.forEach(add);
    } else {
      add(el.innerText);
    }
  }
  for (const form of document.querySelectorAll('form:not([novalidate])')) {
    for (const el of form.querySelectorAll(':invalid')) {
      if (el.tagName === 'FORM' || el.tagName === 'FIELDSET' || !visible(el)) continue;
      const label = el.labels && el.labels.length ? clean(el.labels[0].innerText) : (el.name || '');
      if (el.validationMessage) add(label ? `${label}: ${el.validationMessage}` : el.validationMessage);
    }
  }
  return out.slice(0, 30);
}
