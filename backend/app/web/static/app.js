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

// A download with data-busy="#id" (the PDF, made on request) says in that element that it is being made, and
// fetches the file itself so it can tell when it is done; without script the link downloads as any link does.
document.addEventListener("click", async (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-busy]") : null;
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const status = document.querySelector(link.dataset.busy);
  if (!status) return;
  event.preventDefault();
  if (link.getAttribute("aria-busy") === "true") return;
  link.setAttribute("aria-busy", "true");
  status.textContent = status.dataset.busyText || "Working…";
  try {
    const response = await fetch(link.href, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "report.pdf";
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = name;
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = `${name} is ready.`;
  } catch (error) {
    status.textContent = `The PDF could not be made (${error.message}).`;
  } finally {
    link.removeAttribute("aria-busy");
  }
});

// A table wider than the screen scrolls sideways in its .table-wrap, and a long <pre> (a pack's YAML, a response)
// scrolls within its maximum height; a keyboard can scroll them only if they take the focus (WCAG 2.1.1), so one
// that scrolls gets a tab stop and the name of its section.
function focusableScrollers() {
  for (const wrap of document.querySelectorAll(".table-wrap, main pre")) {
    const scrolls = wrap.scrollWidth > wrap.clientWidth || wrap.scrollHeight > wrap.clientHeight;
    if (scrolls && !wrap.hasAttribute("tabindex")) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      const heading = wrap.closest("section")?.querySelector("h2, h3");
      const what = heading ? heading.textContent.trim() : wrap.tagName === "PRE" ? "Text" : "Table";
      wrap.setAttribute("aria-label", `${what} (scrolls)`);
    } else if (!scrolls && wrap.getAttribute("tabindex") === "0") {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
  }
}
document.addEventListener("DOMContentLoaded", focusableScrollers);
document.addEventListener("htmx:afterSettle", focusableScrollers);
window.addEventListener("resize", focusableScrollers);
