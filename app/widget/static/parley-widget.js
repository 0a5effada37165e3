/*! Parley chat widget v1. Embed with:
 *  <script src="https://API/widget/v1/parley-widget.js" integrity="sha384-…" crossorigin="anonymous"
 *          data-parley-key="pk_…" defer></script>
 * Dependency-free. Renders inside a shadow root so the host page's CSS cannot reach it,
 * and inserts every piece of model or visitor text with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__parleyWidget) return;
  window.__parleyWidget = true;

  var KEY = script.getAttribute("data-parley-key") || "";
  var API = (script.getAttribute("data-parley-api") || new URL(script.src).origin).replace(/\/$/, "");
  var STORE = "parley:" + KEY.slice(-12);
  var WS_PROTOCOL = "graphql-transport-ws";

  var TEXTS = {
    en: { open: "Open chat", close: "Close chat", placeholder: "Ask a question…", send: "Send",
          sources: "Sources", thinking: "Thinking…", error: "Sorry, something went wrong. Please try again.",
          unavailable: "Chat is not available on this site.", leadTitle: "Leave your details",
          leadIntro: "We will get back to you.", consent: "I agree to be contacted about my question.",
          submit: "Send details", thanks: "Thanks! We will be in touch.", contact: "Contact us",
          extractive: "Answer quoted from our documents", name: "Name", email: "Email", phone: "Phone",
          company: "Company", message: "Message" },
    es: { open: "Abrir chat", close: "Cerrar chat", placeholder: "Haz una pregunta…", send: "Enviar",
          sources: "Fuentes", thinking: "Pensando…", error: "Algo salió mal. Inténtalo de nuevo.",
          unavailable: "El chat no está disponible en este sitio.", leadTitle: "Déjanos tus datos",
          leadIntro: "Te responderemos.", consent: "Acepto que me contacten sobre mi pregunta.",
          submit: "Enviar datos", thanks: "¡Gracias! Te contactaremos.", contact: "Contactar",
          extractive: "Respuesta citada de nuestros documentos", name: "Nombre", email: "Correo",
          phone: "Teléfono", company: "Empresa", message: "Mensaje" },
    fr: { open: "Ouvrir le chat", close: "Fermer le chat", placeholder: "Posez une question…",
          send: "Envoyer", sources: "Sources", thinking: "Réflexion…",
          error: "Une erreur est survenue. Réessayez.", unavailable: "Le chat n'est pas disponible sur ce site.",
          leadTitle: "Laissez vos coordonnées", leadIntro: "Nous vous recontacterons.",
          consent: "J'accepte d'être contacté au sujet de ma question.", submit: "Envoyer",
          thanks: "Merci ! Nous vous recontacterons.", contact: "Nous contacter",
          extractive: "Réponse citée de nos documents", name: "Nom", email: "E-mail",
          phone: "Téléphone", company: "Entreprise", message: "Message" },
    de: { open: "Chat öffnen", close: "Chat schließen", placeholder: "Frage stellen…", send: "Senden",
          sources: "Quellen", thinking: "Denke nach…", error: "Etwas ist schiefgelaufen. Bitte erneut versuchen.",
          unavailable: "Der Chat ist auf dieser Seite nicht verfügbar.", leadTitle: "Kontaktdaten hinterlassen",
          leadIntro: "Wir melden uns.", consent: "Ich bin einverstanden, kontaktiert zu werden.",
          submit: "Daten senden", thanks: "Danke! Wir melden uns.", contact: "Kontakt",
          extractive: "Antwort aus unseren Dokumenten zitiert", name: "Name", email: "E-Mail",
          phone: "Telefon", company: "Firma", message: "Nachricht" }
  };

  var state = {
    token: null, expires: 0, config: null, conversationId: null, socket: null,
    socketReady: null, subscriptions: {}, nextId: 1, busy: false
  };
  var t = TEXTS.en;

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; }
  }
  function save(patch) {
    var data = load();
    for (var k in patch) data[k] = patch[k];
    try { localStorage.setItem(STORE, JSON.stringify(data)); } catch (e) { /* private mode */ }
  }

  // ---- transport ---------------------------------------------------------------------------

  function post(query, variables, bearer) {
    return fetch(API + "/widget/graphql?key=" + encodeURIComponent(KEY), {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "content-type": "application/json", accept: "application/json",
                 authorization: "Bearer " + bearer },
      body: JSON.stringify({ query: query, variables: variables || {} })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (body.errors && body.errors.length) {
          var error = new Error(body.errors[0].message);
          error.code = (body.errors[0].extensions || {}).code;
          error.status = response.status;
          throw error;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return body.data;
      });
    });
  }

  // The widget's persisted operations, injected by the server from graphql/operations/widget/
  // when it serves this file: the one source of truth for what a visitor may run.
  var OPS = /*PARLEY_OPERATIONS*/{};

  function session() {
    if (state.token && Date.now() < state.expires - 60000) return Promise.resolve(state.token);
    var stored = load();
    var input = { visitorId: stored.visitorId || null };
    var identity = window.ParleyIdentity;
    if (identity && identity.userId && identity.signature) input.identity = identity;
    return post(OPS.StartWidgetSession, { input: input }, KEY).then(function (data) {
      var s = data.startWidgetSession;
      state.token = s.visitorToken;
      state.expires = Date.parse(s.expiresAt);
      state.config = s.config;
      save({ visitorId: s.visitorId });
      return state.token;
    });
  }

  function call(query, variables) {
    return session().then(function (token) { return post(query, variables, token); });
  }

  // graphql-transport-ws over a WebSocket; any failure falls back to HTTP.
  function socket() {
    if (state.socketReady) return state.socketReady;
    state.socketReady = session().then(function (token) {
      return new Promise(function (resolve, reject) {
        var ws = new WebSocket(API.replace(/^http/, "ws") + "/graphql", WS_PROTOCOL);
        var timer = setTimeout(function () { ws.close(); reject(new Error("timeout")); }, 5000);
        ws.onopen = function () {
          ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: "Bearer " + token } }));
        };
        ws.onmessage = function (event) {
          var msg;
          try { msg = JSON.parse(event.data); } catch (e) { return; }
          if (msg.type === "connection_ack") { clearTimeout(timer); state.socket = ws; resolve(ws); }
          else if (msg.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
          else if (msg.id && state.subscriptions[msg.id]) state.subscriptions[msg.id](msg);
        };
        ws.onclose = function () {
          clearTimeout(timer);
          state.socket = null; state.socketReady = null;
          for (var id in state.subscriptions) state.subscriptions[id]({ type: "error", payload: [{ message: "closed" }] });
          state.subscriptions = {};
          reject(new Error("closed"));
        };
      });
    });
    return state.socketReady;
  }

  function subscribe(query, variables, onData) {
    return socket().then(function (ws) {
      return new Promise(function (resolve, reject) {
        var id = String(state.nextId++);
        state.subscriptions[id] = function (msg) {
          if (msg.type === "next") {
            if (msg.payload.errors) { delete state.subscriptions[id]; reject(new Error(msg.payload.errors[0].message)); }
            else onData(msg.payload.data);
          } else if (msg.type === "complete") { delete state.subscriptions[id]; resolve(); }
          else if (msg.type === "error") { delete state.subscriptions[id]; reject(new Error((msg.payload[0] || {}).message || "error")); }
        };
        ws.send(JSON.stringify({ id: id, type: "subscribe", payload: { query: query, variables: variables } }));
      });
    });
  }

  // ---- view ----------------------------------------------------------------------------------

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;display:flex;align-items:center;justify-content:center;",
    "color:#fff;background:var(--accent);box-shadow:0 4px 14px rgba(0,0,0,.25);font-size:26px;z-index:2147483646}",
    ".launcher:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #111;outline-offset:2px}",
    ".panel{position:fixed;bottom:88px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);",
    "display:flex;flex-direction:column;background:#fff;color:#111;border-radius:14px;overflow:hidden;",
    "box-shadow:0 10px 40px rgba(0,0,0,.25);z-index:2147483647;font-size:15px;line-height:1.45}",
    ".right{right:20px}.left{left:20px}",
    "[hidden]{display:none!important}",
    "header{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between}",
    "header h2{margin:0;font-size:16px;font-weight:600}",
    "header button{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;line-height:1}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px}",
    ".msg{max-width:85%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".visitor{align-self:flex-end;background:var(--accent);color:#fff}",
    ".assistant{align-self:flex-start;background:#f1f3f5}",
    ".note{font-size:12px;color:#555;margin-top:6px}",
    ".sources{margin:6px 0 0;padding-left:18px;font-size:13px}.sources a{color:#0b57d0}",
    ".suggest{display:flex;flex-wrap:wrap;gap:6px;padding:0 12px 8px}",
    ".suggest button{border:1px solid #ccd;background:#fff;border-radius:14px;padding:5px 10px;cursor:pointer;font-size:13px;color:#111}",
    "form.ask{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;resize:none;border:1px solid #ccd;border-radius:8px;padding:8px;font-size:15px;min-height:40px;max-height:120px}",
    ".primary{background:var(--accent);color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer;font-size:14px}",
    ".primary[disabled]{opacity:.5;cursor:default}",
    ".link{background:none;border:0;color:#0b57d0;cursor:pointer;font-size:13px;padding:4px 12px;text-align:left}",
    "form.lead{padding:12px;display:flex;flex-direction:column;gap:8px;border-top:1px solid #e5e7eb;overflow-y:auto}",
    "form.lead label{font-size:13px;display:flex;flex-direction:column;gap:3px}",
    "form.lead input{border:1px solid #ccd;border-radius:6px;padding:7px;font-size:14px}",
    "form.lead .consent{flex-direction:row;align-items:flex-start;gap:6px}",
    "form.lead .primary{padding:9px}",
    ".status{font-size:13px;color:#b00020;padding:0 12px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{bottom:0;right:0;left:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) node.addEventListener(ev, attrs.on[ev]);
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // A speech bubble drawn as SVG (fonts on the host page may lack emoji).
  function icon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  var host = el("div", { id: "parley-widget", "data-parley": "1" });
  // Open, so assistive technology and test tools can walk it; the styles stay isolated.
  var root = host.attachShadow({ mode: "open" });
  var ui = {};

  function build(config) {
    t = TEXTS[config.language] || TEXTS.en;
    var side = config.position === "bottom-left" ? "left" : "right";
    root.appendChild(el("style", { text: CSS }));
    host.style.setProperty("--accent", /^#[0-9a-f]{6}$/i.test(config.primaryColor) ? config.primaryColor : "#2563eb");
    ui.launcher = el("button", { "class": "launcher " + side, type: "button", "aria-label": t.open,
                                 "aria-expanded": "false", "aria-controls": "parley-panel" }, [icon()]);
    ui.log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
    ui.status = el("p", { "class": "status", role: "alert" });
    ui.input = el("textarea", { rows: "1", placeholder: t.placeholder, "aria-label": t.placeholder, maxlength: "2000" });
    ui.send = el("button", { "class": "primary", type: "submit", text: t.send });
    ui.form = el("form", { "class": "ask" }, [ui.input, ui.send]);
    ui.suggest = el("div", { "class": "suggest" });
    (config.suggestedQuestions || []).forEach(function (q) {
      ui.suggest.appendChild(el("button", { type: "button", text: q, on: { click: function () { ask(q); } } }));
    });
    ui.leadLink = el("button", { "class": "link", type: "button", text: t.contact, hidden: "" });
    ui.lead = leadForm(config);
    ui.close = el("button", { type: "button", "aria-label": t.close, text: "×" });
    ui.panel = el("section", { id: "parley-panel", "class": "panel " + side, role: "dialog",
                               "aria-label": config.title, hidden: "" }, [
      el("header", {}, [el("h2", { text: config.title }), ui.close]),
      ui.log, ui.suggest, ui.status, ui.leadLink, ui.lead, ui.form
    ]);
    root.appendChild(ui.launcher);
    root.appendChild(ui.panel);
    if (config.leadCapture) ui.leadLink.removeAttribute("hidden");

    ui.launcher.addEventListener("click", function () { toggle(ui.panel.hasAttribute("hidden")); });
    ui.close.addEventListener("click", function () { toggle(false); });
    ui.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
    ui.form.addEventListener("submit", function (e) { e.preventDefault(); ask(ui.input.value); });
    ui.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask(ui.input.value); }
    });
    ui.leadLink.addEventListener("click", function () {
      ui.lead.toggleAttribute("hidden");
      if (!ui.lead.hasAttribute("hidden")) ui.lead.querySelector("input").focus();
    });
    bubble("assistant", config.greeting);
  }

  function toggle(open) {
    if (open) ui.panel.removeAttribute("hidden"); else ui.panel.setAttribute("hidden", "");
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    ui.launcher.setAttribute("aria-label", open ? t.close : t.open);
    (open ? ui.input : ui.launcher).focus();
    if (open) restore();
  }

  function bubble(who, text) {
    var node = el("div", { "class": "msg " + who, text: text });
    ui.log.appendChild(node);
    ui.log.scrollTop = ui.log.scrollHeight;
    return node;
  }

  function safeUrl(url) {
    try { var u = new URL(url, API); return /^https?:$/.test(u.protocol) ? u.href : null; } catch (e) { return null; }
  }

  function showCitations(node, citations) {
    if (!citations || !citations.length) return;
    var list = el("ol", { "class": "sources", "aria-label": t.sources });
    citations.forEach(function (c) {
      var href = safeUrl(c.url || "");
      var label = c.title || c.documentTitle || t.sources;
      list.appendChild(el("li", {}, [href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: label })
                                          : el("span", { text: label })]));
    });
    node.appendChild(list);
  }

  function leadForm(config) {
    var fields = config.leadFields || ["email"];
    var inputs = {};
    var children = [el("strong", { text: t.leadTitle }), el("span", { "class": "note", text: t.leadIntro })];
    fields.forEach(function (name) {
      var input = el("input", { name: name, type: name === "email" ? "email" : name === "phone" ? "tel" : "text",
                                autocomplete: name === "company" ? "organization" : name, maxlength: name === "message" ? "5000" : "200" });
      if (name === "email") input.required = true;
      inputs[name] = input;
      children.push(el("label", {}, [el("span", { text: t[name] || name }), input]));
    });
    var consent = el("input", { type: "checkbox", name: "consent", required: "" });
    children.push(el("label", { "class": "consent" }, [consent, el("span", { text: t.consent })]));
    var submit = el("button", { "class": "primary", type: "submit", text: t.submit });
    children.push(submit);
    var form = el("form", { "class": "lead", hidden: "", "aria-label": t.leadTitle }, children);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var input = { consent: consent.checked, conversationId: state.conversationId };
      for (var name in inputs) if (inputs[name].value) input[name] = inputs[name].value;
      submit.disabled = true;
      call(OPS.SubmitLead, { input: input })
        .then(function () { form.setAttribute("hidden", ""); ui.leadLink.setAttribute("hidden", ""); bubble("assistant", t.thanks); })
        .catch(function (err) { ui.status.textContent = err.message || t.error; })
        .then(function () { submit.disabled = false; });
    });
    return form;
  }

  // ---- conversation --------------------------------------------------------------------------

  function render(node, message) {
    node.textContent = message.content || "";
    if (message.mode === "EXTRACTIVE") node.appendChild(el("div", { "class": "note", text: t.extractive }));
    showCitations(node, message.citations);
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function finished(message) { return message.status === "COMPLETE" || message.status === "FAILED"; }

  // Stream over the WebSocket; if that is impossible, poll the message over HTTP.
  function follow(messageId, node) {
    var text = "";
    return subscribe(OPS.WidgetAnswer, { messageId: messageId }, function (data) {
      var event = data.answer;
      if (event.kind === "RESET") text = "";
      else if (event.kind === "DELTA") text = text.slice(0, event.offset) + event.text;
      if (event.kind === "DONE" && event.message) render(node, event.message);
      else { node.textContent = text; ui.log.scrollTop = ui.log.scrollHeight; }
    }).catch(function () { return poll(messageId, node, Date.now() + 90000); });
  }

  function poll(messageId, node, deadline) {
    return call(OPS.WidgetMessage, { id: messageId }).then(function (data) {
      var message = data.message;
      if (message && finished(message)) return render(node, message);
      if (message && message.content) node.textContent = message.content;
      if (Date.now() > deadline) throw new Error("timeout");
      return new Promise(function (resolve) { setTimeout(resolve, 800); })
        .then(function () { return poll(messageId, node, deadline); });
    });
  }

  function ask(question) {
    question = (question || "").trim();
    if (!question || state.busy) return;
    state.busy = true;
    ui.send.disabled = true;
    ui.status.textContent = "";
    ui.input.value = "";
    ui.suggest.setAttribute("hidden", "");
    bubble("visitor", question);
    var node = bubble("assistant", t.thinking);
    node.setAttribute("aria-busy", "true");
    call(OPS.WidgetAsk, { input: { question: question, conversationId: state.conversationId } })
      .then(function (data) {
        var result = data.ask;
        state.conversationId = result.conversation.id;
        save({ conversationId: state.conversationId });
        if (finished(result.answer)) return render(node, result.answer);
        return follow(result.answer.id, node);
      })
      .catch(function (err) {
        node.textContent = err && err.code === "RATE_LIMITED" ? err.message : t.error;
      })
      .then(function () {
        node.removeAttribute("aria-busy");
        state.busy = false;
        ui.send.disabled = false;
      });
  }

  // A conversation survives page loads: its id is kept in localStorage for this site.
  function restore() {
    if (state.restored) return;
    state.restored = true;
    var id = load().conversationId;
    if (!id) return;
    call(OPS.WidgetConversation, { id: id }).then(function (data) {
      if (!data.conversation) { save({ conversationId: null }); return; }
      state.conversationId = id;
      data.conversation.messages.edges.forEach(function (edge) {
        var m = edge.node;
        if (m.role === "USER") bubble("visitor", m.content);
        else render(bubble("assistant", ""), m);
      });
    }).catch(function () { /* history is a convenience */ });
  }

  function start() {
    document.body.appendChild(host);
    session().then(function () { build(state.config); })
      .catch(function (err) {
        // Not an allowed origin, revoked key, or the API is down: say so where developers look.
        console.error("[parley] widget disabled: " + (err && err.message));
        host.remove();
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
