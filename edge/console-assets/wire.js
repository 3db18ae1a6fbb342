// The four chat protocols the playground speaks: how each request is written, and where the text
// is in each answer and stream event. Each uses its own SDKs' header for the key.

const ANTHROPIC_VERSION = "2023-06-01";
const ANTHROPIC_DEFAULT_MAX_TOKENS = 1024;

function json(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function errorText(body) {
  const error = body?.error;
  if (!error) return null;
  return typeof error === "string" ? error : error.message || JSON.stringify(error);
}

function optional(entries) {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== null && v !== undefined && v !== ""));
}

function geminiText(body) {
  const parts = body?.candidates?.[0]?.content?.parts || [];
  return parts.filter((p) => typeof p.text === "string" && !p.thought).map((p) => p.text).join("");
}

export const PROTOCOLS = {
  "openai-chat": {
    label: "OpenAI chat completions",
    request({ key, model, system, history, temperature, maxTokens, stream }) {
      const messages = [
        ...(system ? [{ role: "system", content: system }] : []),
        ...history.map((m) => ({ role: m.role, content: m.text })),
      ];
      return {
        url: "/v1/chat/completions",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: optional({
          model,
          messages,
          temperature,
          max_completion_tokens: maxTokens,
          stream: stream || null,
          stream_options: stream ? { include_usage: true } : null,
        }),
      };
    },
    text: (body) => body?.choices?.[0]?.message?.content ?? "",
    event({ data }) {
      if (data === "[DONE]") return { done: true };
      const body = json(data);
      if (errorText(body)) return { error: errorText(body) };
      return { text: body?.choices?.[0]?.delta?.content ?? "" };
    },
  },
  "openai-responses": {
    label: "OpenAI Responses",
    request({ key, model, system, history, temperature, maxTokens, stream }) {
      return {
        url: "/v1/responses",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: optional({
          model,
          instructions: system,
          input: history.map((m) => ({ role: m.role, content: m.text })),
          temperature,
          max_output_tokens: maxTokens,
          store: false,
          stream: stream || null,
        }),
      };
    },
    text(body) {
      return (body?.output || [])
        .flatMap((item) => item.content || [])
        .filter((part) => part.type === "output_text")
        .map((part) => part.text)
        .join("");
    },
    event({ event, data }) {
      const body = json(data);
      const type = body?.type || event;
      if (type === "response.output_text.delta") return { text: body.delta || "" };
      if (type === "response.completed") return { done: true };
      if (type === "error") return { error: body?.message || errorText(body) || data };
      if (type === "response.failed") return { error: body?.response?.error?.message || "The response failed." };
      return {};
    },
  },
  anthropic: {
    label: "Anthropic messages",
    request({ key, model, system, history, temperature, maxTokens, stream }) {
      return {
        url: "/v1/messages",
        headers: { "x-api-key": key, "anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json" },
        body: optional({
          model,
          system,
          messages: history.map((m) => ({ role: m.role, content: m.text })),
          max_tokens: maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
          temperature,
          stream: stream || null,
        }),
      };
    },
    text: (body) => (body?.content || []).filter((b) => b.type === "text").map((b) => b.text).join(""),
    event({ event, data }) {
      const body = json(data);
      const type = body?.type || event;
      if (type === "content_block_delta" && body.delta?.type === "text_delta") return { text: body.delta.text };
      if (type === "message_stop") return { done: true };
      if (type === "error") return { error: errorText(body) || data };
      return {};
    },
  },
  gemini: {
    label: "Gemini generateContent",
    request({ key, model, system, history, temperature, maxTokens, stream }) {
      const method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
      return {
        url: `/v1beta/models/${encodeURI(model)}:${method}`,
        headers: { "x-goog-api-key": key, "content-type": "application/json" },
        body: optional({
          contents: history.map((m) => ({ role: m.role === "assistant" ? "model" : "user", parts: [{ text: m.text }] })),
          systemInstruction: system ? { parts: [{ text: system }] } : null,
          generationConfig: Object.keys(optional({ temperature, maxOutputTokens: maxTokens })).length
            ? optional({ temperature, maxOutputTokens: maxTokens })
            : null,
        }),
      };
    },
    text: geminiText,
    event({ data }) {
      const body = json(data);
      if (errorText(body)) return { error: errorText(body) };
      const finished = Boolean(body?.candidates?.[0]?.finishReason);
      return { text: geminiText(body), done: finished };
    },
  },
};

/** The message of an error answer in any protocol (each has error.message), else its text. */
export function errorMessage(text) {
  return errorText(json(text)) || text;
}

/** A key as the raw request panel shows it. */
export function masked(key) {
  return key.length > 12 ? `${key.slice(0, 7)}…${key.slice(-4)}` : "…";
}
