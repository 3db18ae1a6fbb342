// Playground: a caller key (pasted), a model of that key's catalog, one of four protocols; the chat
// streams as tokens arrive and Stop aborts the request. The side panel shows the raw request and
// the raw answer or stream as it came through the edge.

import { clear, field, h } from "../dom.js";
import { sseEvents } from "../sse.js";
import { PROTOCOLS, errorMessage, masked } from "../wire.js";

function number(input) {
  return input.value === "" ? null : Number(input.value);
}

function rawRequest(request) {
  const headers = Object.entries(request.headers).map(([name, value]) => {
    const secret = name === "authorization" ? `Bearer ${masked(value.slice(7))}` : name.startsWith("x-") && name.endsWith("key") ? masked(value) : value;
    return `${name}: ${secret}`;
  });
  return `POST ${request.url}\n${headers.join("\n")}\n\n${JSON.stringify(request.body, null, 2)}`;
}

export async function render(root, ctx) {
  const state = ctx.playground;
  const inputs = {
    key: h("input", { type: "password", id: "pg-key", autocomplete: "off", spellcheck: "false", placeholder: "tr-…", value: state.key }),
    model: h("select", { id: "pg-model" }),
    protocol: h(
      "select",
      { id: "pg-protocol" },
      Object.entries(PROTOCOLS).map(([id, p]) => h("option", { value: id }, p.label)),
    ),
    stream: h("input", { type: "checkbox", id: "pg-stream", checked: state.stream ?? true }),
    system: h("textarea", { id: "pg-system", rows: 2, placeholder: "optional", value: state.system || "" }),
    temperature: h("input", { type: "number", id: "pg-temperature", min: 0, max: 2, step: 0.1, placeholder: "default", value: state.temperature ?? "" }),
    maxTokens: h("input", { type: "number", id: "pg-max-tokens", min: 1, step: 1, placeholder: "default", value: state.maxTokens ?? "" }),
    prompt: h("textarea", { id: "pg-prompt", rows: 3, placeholder: "Say something (Ctrl+Enter sends)" }),
  };
  if (state.protocol) inputs.protocol.value = state.protocol;
  const loadModels = h("button", { type: "button", id: "pg-load-models" }, "Load models");
  const showKey = h("button", { type: "button", class: "small", "aria-pressed": "false" }, "Show");
  const keyStatus = h("small", { class: "field-error", id: "pg-key-status", role: "alert" });
  const sendButton = h("button", { type: "submit", class: "primary", id: "pg-send" }, "Send");
  const stopButton = h("button", { type: "button", id: "pg-stop", disabled: true }, "Stop");
  const clearButton = h("button", { type: "button", id: "pg-clear" }, "Clear chat");
  const status = h("p", { id: "pg-status", class: "muted", role: "status" });
  const transcript = h("ol", { id: "transcript", class: "transcript", "aria-live": "polite" });
  const rawReq = h("pre", { id: "raw-request", tabindex: 0 }, "(nothing sent yet)");
  const rawRes = h("pre", { id: "raw-response", tabindex: 0 });

  const keyField = field("Caller key", inputs.key);
  keyField.classList.add("wide");
  const systemField = field("System prompt", inputs.system);
  systemField.classList.add("wide");
  keyField.querySelector("input").after(h("div", { class: "inline-buttons" }, showKey, loadModels));
  keyField.append(keyStatus);
  const settings = h(
    "div",
    { class: "pg-settings" },
    keyField,
    field("Model", inputs.model),
    field("Protocol", inputs.protocol),
    systemField,
    field("Temperature", inputs.temperature),
    field("Max tokens", inputs.maxTokens, "Anthropic needs one: 1024 when empty"),
    h("label", { class: "check wide" }, inputs.stream, h("span", {}, "Stream the answer (tokens appear as they arrive)")),
  );
  const composer = h(
    "form",
    { id: "composer", class: "composer" },
    field("Message", inputs.prompt),
    h("div", { class: "actions" }, sendButton, stopButton, clearButton),
    status,
  );
  root.append(
    h(
      "div",
      { class: "playground" },
      h("div", { class: "pg-main" }, settings, h("h2", {}, "Chat"), transcript, composer),
      h("aside", { class: "pg-raw", "aria-label": "Raw traffic" }, h("h2", {}, "Raw request"), rawReq, h("h2", {}, "Raw response"), rawRes),
    ),
  );

  const bubble = (role, text, kind = "") =>
    h("li", { class: `msg ${role} ${kind}`.trim(), dataset: { role } }, h("span", { class: "who" }, role === "user" ? "You" : role === "assistant" ? "Model" : "Error"), h("div", { class: "text" }, text));
  const replay = () => clear(transcript, state.history.map((m) => bubble(m.role, m.text)));
  replay();

  const setModels = (ids) => {
    inputs.model.replaceChildren(...ids.map((id) => h("option", { value: id }, id)));
    if (ids.includes(state.model)) inputs.model.value = state.model;
    state.model = inputs.model.value;
  };
  if (state.models) setModels(state.models);

  const fetchModels = async () => {
    keyStatus.textContent = "";
    const key = inputs.key.value.trim();
    state.key = key;
    if (!key) {
      keyStatus.textContent = "Paste a caller key first.";
      return;
    }
    loadModels.disabled = true;
    try {
      const response = await fetch("/v1/models", { headers: { authorization: `Bearer ${key}` }, cache: "no-store" });
      const text = await response.text();
      if (!response.ok) {
        keyStatus.textContent = `${response.status}: ${errorMessage(text)}`;
        return;
      }
      state.models = JSON.parse(text).data.map((m) => m.id);
      setModels(state.models);
      keyStatus.textContent = "";
      status.textContent = `${state.models.length} models for this key.`;
    } catch (error) {
      keyStatus.textContent = error.message;
    } finally {
      loadModels.disabled = false;
    }
  };
  loadModels.addEventListener("click", fetchModels);
  showKey.addEventListener("click", () => {
    const shown = inputs.key.type === "text";
    inputs.key.type = shown ? "password" : "text";
    showKey.textContent = shown ? "Show" : "Hide";
    showKey.setAttribute("aria-pressed", String(!shown));
  });
  inputs.key.addEventListener("change", () => {
    state.key = inputs.key.value.trim();
    state.models = null;
  });
  inputs.model.addEventListener("change", () => (state.model = inputs.model.value));
  inputs.protocol.addEventListener("change", () => (state.protocol = inputs.protocol.value));
  inputs.stream.addEventListener("change", () => (state.stream = inputs.stream.checked));
  inputs.system.addEventListener("change", () => (state.system = inputs.system.value));
  inputs.temperature.addEventListener("change", () => (state.temperature = inputs.temperature.value));
  inputs.maxTokens.addEventListener("change", () => (state.maxTokens = inputs.maxTokens.value));
  clearButton.addEventListener("click", () => {
    state.history = [];
    replay();
    status.textContent = "";
  });
  inputs.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  let controller = null;
  ctx.onLeave(() => controller?.abort());
  stopButton.addEventListener("click", () => controller?.abort());

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = inputs.prompt.value.trim();
    const key = inputs.key.value.trim();
    if (!text) return;
    if (!key || !inputs.model.value) {
      status.textContent = "Paste a caller key and load its models first.";
      (key ? loadModels : inputs.key).focus();
      return;
    }
    const protocol = PROTOCOLS[inputs.protocol.value];
    const stream = inputs.stream.checked;
    state.history.push({ role: "user", text });
    transcript.append(bubble("user", text));
    inputs.prompt.value = "";
    const request = protocol.request({
      key,
      model: inputs.model.value,
      system: inputs.system.value.trim(),
      history: state.history,
      temperature: number(inputs.temperature),
      maxTokens: number(inputs.maxTokens),
      stream,
    });
    rawReq.textContent = rawRequest(request);
    rawRes.textContent = "";
    const answer = bubble("assistant", "", "pending");
    const answerText = answer.querySelector(".text");
    let received = "";
    const started = performance.now();
    controller = new AbortController();
    sendButton.disabled = true;
    stopButton.disabled = false;
    status.textContent = "Waiting for the first byte…";
    try {
      const response = await fetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: JSON.stringify(request.body),
        signal: controller.signal,
        cache: "no-store",
      });
      const shown = ["content-type", "x-request-id", "retry-after"].filter((n) => response.headers.has(n));
      rawRes.textContent = `HTTP ${response.status} ${response.statusText}\n${shown.map((n) => `${n}: ${response.headers.get(n)}`).join("\n")}\n\n`;
      if (!response.ok) {
        const body = await response.text();
        rawRes.append(body);
        state.history.pop();
        transcript.append(bubble("error", `${response.status}: ${errorMessage(body)}`, "error"));
        status.textContent = `Refused with ${response.status}.`;
        return;
      }
      transcript.append(answer);
      if ((response.headers.get("content-type") || "").startsWith("text/event-stream")) {
        status.textContent = "Streaming…";
        let events = 0;
        for await (const event of sseEvents(response.body, (raw) => rawRes.append(raw))) {
          events += 1;
          const read = protocol.event(event);
          if (read.error) throw new Error(read.error);
          if (read.text) {
            received += read.text;
            answerText.textContent = received;
          }
        }
        status.textContent = `Done: ${events} events in ${Math.round(performance.now() - started)} ms.`;
      } else {
        const body = await response.text();
        rawRes.append(body);
        received = protocol.text(JSON.parse(body));
        answerText.textContent = received;
        status.textContent = `Done in ${Math.round(performance.now() - started)} ms.`;
      }
      answer.classList.remove("pending");
      state.history.push({ role: "assistant", text: received });
    } catch (error) {
      answer.classList.remove("pending");
      if (error.name === "AbortError") {
        if (!answer.isConnected) transcript.append(answer);
        answer.classList.add("stopped");
        answer.append(h("small", { class: "muted" }, "(stopped)"));
        status.textContent = "Stopped.";
        if (received) state.history.push({ role: "assistant", text: received });
        else state.history.pop();
      } else {
        if (!received) answer.remove();
        transcript.append(bubble("error", error.message, "error"));
        status.textContent = "Failed.";
        if (received) state.history.push({ role: "assistant", text: received });
        else state.history.pop();
      }
    } finally {
      controller = null;
      sendButton.disabled = false;
      stopButton.disabled = true;
    }
  });

  if (state.key && !state.models) await fetchModels();
}
