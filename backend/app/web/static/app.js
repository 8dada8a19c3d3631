// The dashboard's own script: one guard for htmx, nothing else (the CSP allows only scripts served from here).
//
// A running scan's progress is polled every second; when the scan ends the server answers with HX-Refresh and htmx
// reloads the page to show the results. Until the browser has actually left the page the poll timer can fire once
// more; the reload then aborts that request and htmx reports the abort as an error in the console. Once an answer
// has asked for the reload, htmx starts no new request on this page.
"use strict";
let reloading = false;
document.addEventListener("htmx:beforeOnLoad", (event) => {
  if (event.detail.xhr.getResponseHeader("HX-Refresh") === "true") reloading = true;
});
document.addEventListener("htmx:beforeRequest", (event) => {
  if (reloading) event.preventDefault();
});

// A form with data-confirm asks before it is sent (revoking a token, disabling a user): Cancel sends nothing.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

// A button with data-copy="#id" copies that element's text (the API token shown once) and says so on itself.
document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = button.dataset.copied || "Copied";
  } catch {
    // no clipboard (plain HTTP, or permission refused): select the text so Ctrl+C copies it
    window.getSelection().selectAllChildren(source);
    button.textContent = "Press Ctrl+C";
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});
