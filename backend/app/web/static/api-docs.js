// The API docs page: Swagger UI (vendored) over this server's OpenAPI schema. A file, not an inline script,
// so the page's Content-Security-Policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", function () {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // keep what is typed into "Authorize" out of localStorage: it is a bearer token
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
