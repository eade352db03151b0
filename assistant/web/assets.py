"""The page's stylesheet, theme and the JavaScript run in the browser.

Every class the views and tabs write starts with `ca-`. The JavaScript snippets are given
to Gradio event listeners (`js=`); none of them loads anything or talks to a server.
"""

from __future__ import annotations

import gradio as gr

CSS = """
/* answers, citation cards, the passage panel, the index panel (views.py) */
.ca-answer, .ca-card, .ca-context, .ca-question {overflow-wrap: anywhere}
.ca-docs td {overflow-wrap: break-word}
.ca-searched {font-size: .82em; color: var(--body-text-color-subdued); margin-bottom: .35em}
.ca-quote {margin: .35em 0}
.ca-answer-mark {background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 2px}
.ca-short-answer {font-weight: 600; margin: .3em 0 .4em}
.ca-marker {font-weight: 600; color: var(--color-accent)}
.ca-abstain {font-weight: 600}
.ca-closest-label {font-size: .85em; color: var(--body-text-color-subdued); margin-top: .35em}
.ca-card {cursor: pointer; border-left: 3px solid var(--color-accent); padding-left: .6em; font-size: .92em}
.ca-card-closest {border-left: 3px dashed var(--neutral-400)}
.ca-closest-tag {font-size: .78em; font-weight: 600; text-transform: uppercase; color: var(--neutral-500);
                 white-space: nowrap}
.ca-card-title {display: flex; gap: .5em; align-items: baseline; font-weight: 600}
.ca-card-name {flex: 1; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis}
.ca-card-open {font-size: .82em; font-weight: 400; color: var(--color-accent); white-space: nowrap}
.ca-card-meta {font-size: .85em; color: var(--body-text-color-subdued); white-space: nowrap; overflow: hidden;
               text-overflow: ellipsis}
.ca-card-excerpt {margin-top: .15em; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
                  overflow: hidden}
.ca-panel-label {font-size: .8em; font-weight: 600; text-transform: uppercase; color: var(--neutral-500)}
.ca-panel-title {font-weight: 600; margin: .2em 0}
.ca-context {white-space: pre-wrap; line-height: 1.55; margin-top: .6em}
.ca-context mark {background: #fde68a; color: #111; padding: 0 .1em; border-radius: 2px}
.ca-source {font-size: .78em; color: var(--body-text-color-subdued); margin-top: .5em}
.ca-warning {background: #fff4e5; color: #663c00; border: 1px solid #f5a623; padding: .5em .75em;
             border-radius: 6px; margin: .5em 0}
.ca-ok {color: #1e6b34; margin: .5em 0}
.ca-index-head {font-weight: 600}
.ca-docs {width: 100%; border-collapse: collapse; font-size: .88em; margin-top: .5em}
.ca-docs th, .ca-docs td {text-align: left; padding: .35em .5em; border-bottom: 1px solid var(--border-color-primary);
                          vertical-align: top}
.ca-num {text-align: right}
.ca-failures {margin-top: .6em; color: #8a1c1c}
.ca-log {font-family: var(--font-mono); font-size: .82em; white-space: pre-wrap; min-height: 1.5em}
.ca-error {color: #8a1c1c}
/* the Briefing tab and the chat's "Add to briefing" pills (briefing_tab.py, views.py) */
.ca-item {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .5em .75em !important}
.ca-item-head {display: flex; gap: .5em; align-items: baseline; font-weight: 600; overflow-wrap: anywhere}
.ca-item-num {color: var(--color-accent)}
.ca-item-quote {margin: .4em 0 .2em 1.4em; padding-left: .6em; border-left: 3px solid var(--color-accent);
                overflow-wrap: anywhere}
.ca-item-ref {margin: 0 0 .3em 1.4em; font-size: .85em; color: var(--body-text-color); opacity: .8;
              overflow-wrap: anywhere}
.ca-item-ref code {font-size: .9em}
.ca-item-abstain {margin: .4em 0 .2em 1.4em; font-style: italic}
.ca-item-buttons {min-width: 8.5em !important; gap: .3em !important}
.ca-note-saved {font-size: .8em; color: var(--body-text-color-subdued)}
.ca-briefing-empty {color: var(--body-text-color-subdued); margin: 1em 0}
.ca-add {color: var(--color-accent); font-size: .82em; font-weight: 600; white-space: nowrap; cursor: copy;
         border: 1px solid var(--color-accent); border-radius: 999px; padding: 0 .55em; margin-left: .3em}
.ca-add:hover, .ca-add:focus-visible {background: var(--color-accent); color: white}
.ca-card:focus-visible {outline: 2px solid var(--color-accent); outline-offset: 1px}
.ca-add-row {margin-top: .45em}
"""

# Gradio's default theme, but its Source Sans Pro SemiBold file holds only a few letters:
# bold text asks for the (complete) Bold file instead. Fonts are served by the app itself.
THEME = gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                "ui-sans-serif", "system-ui", "sans-serif"])

# The "Copy citation" button: the clipboard where the page is served securely, a selected
# textarea elsewhere (a plain-http page on the network has no clipboard API).
COPY_JS = """(text) => {
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text); }
  else { const t = document.createElement('textarea'); t.value = text; document.body.appendChild(t);
         t.select(); document.execCommand('copy'); t.remove(); }
  return text;
}"""

# Gradio labels each chat message for screen readers with its content, which here is HTML:
# the label is made plain text (what the message shows) whenever a message appears or changes.
PLAIN_LABELS_JS = """() => {
  const chat = document.getElementById('chat');
  if (!chat) return;
  const plain = (html) => (new DOMParser().parseFromString(html, 'text/html').body.textContent || '')
    .replace(/\\s+/g, ' ').trim();
  const fix = () => chat.querySelectorAll('[aria-label*="<"]').forEach((el) => {
    const label = el.getAttribute('aria-label');
    if (el.dataset.caPlainLabel === label) return;
    const text = plain(label);
    el.dataset.caPlainLabel = text;
    el.setAttribute('aria-label', text);
  });
  fix();
  new MutationObserver(fix).observe(chat, {subtree: true, childList: true, attributes: true,
                                           attributeFilter: ['aria-label']});
}"""

# Run once on load: remembers which part of a chat message a click landed on, for
# CLICKED_PART_JS; Gradio's select event itself only says which message.
TRACK_CLICKS_JS = """() => {
  // Which part of a chat message was clicked: "add" (an Add-to-briefing pill) or "open".
  if (window.__caListening) return;
  window.__caListening = true;
  document.addEventListener('click', (e) => {
    window.__caIntent = (e.target.closest && e.target.closest('.ca-add')) ? 'add' : 'open';
  }, true);
  // Keyboard: Enter or Space on a focused pill or citation card acts as a click on it.
  document.addEventListener('keydown', (e) => {
    const target = e.target.closest && e.target.closest('.ca-add, .ca-card');
    if (!target || (e.key !== 'Enter' && e.key !== ' ')) return;
    e.preventDefault();
    target.click();
  }, true);
}"""
CLICKED_PART_JS = """(...args) => {
  args[args.length - 1] = window.__caIntent || 'open';
  window.__caIntent = 'open';
  return args;
}"""
"""The chat's select event: its last input (a hidden textbox) becomes what was clicked."""
