// Models: each group's catalog with prices per million tokens, and how to point each SDK and CLI
// at this gateway (the exact base URL and a snippet).

import { clear, copyText, h, notice, table } from "../dom.js";

function rate(price, name) {
  if (!price) return h("span", { class: "muted" }, "unknown");
  const value = price[name];
  if (value === undefined || value === null) return h("span", { class: "muted" }, "—");
  const tiers = price[`${name}_tiers`];
  const text = `$${Number(value.toPrecision(6))}`;
  return tiers?.length ? h("span", { title: tiers.map((t) => `above ${t.above_input_tokens} input tokens: $${t.rate}`).join("\n") }, `${text}*`) : text;
}

function pick(ids, hint) {
  return ids.find((id) => id.includes(hint)) || ids[0] || "MODEL";
}

/** The base URL each client takes, and a snippet per client, for a group's models. */
export function snippets(origin, ids) {
  const openaiModel = pick(ids, "gpt");
  const claudeModel = pick(ids, "claude");
  const geminiModel = pick(ids, "gemini");
  return [
    {
      id: "openai",
      title: "OpenAI SDK (Python)",
      base: `${origin}/v1`,
      code: `import os
from openai import OpenAI

client = OpenAI(
    base_url="${origin}/v1",
    api_key=os.environ["TOROUTER_KEY"],
)
reply = client.chat.completions.create(
    model="${openaiModel}",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: "anthropic",
      title: "Anthropic SDK (Python)",
      base: origin,
      code: `import os
from anthropic import Anthropic

client = Anthropic(
    base_url="${origin}",
    api_key=os.environ["TOROUTER_KEY"],
)
message = client.messages.create(
    model="${claudeModel}",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text)`,
    },
    {
      id: "gemini",
      title: "Google GenAI SDK (Python)",
      base: origin,
      code: `import os
from google import genai
from google.genai import types

client = genai.Client(
    api_key=os.environ["TOROUTER_KEY"],
    http_options=types.HttpOptions(base_url="${origin}"),
)
response = client.models.generate_content(model="${geminiModel}", contents="Hello")
print(response.text)`,
    },
    {
      id: "claude-code",
      title: "Claude Code",
      base: origin,
      code: `export ANTHROPIC_BASE_URL="${origin}"
export ANTHROPIC_AUTH_TOKEN="$TOROUTER_KEY"
export ANTHROPIC_MODEL="${claudeModel}"
claude`,
    },
    {
      id: "codex",
      title: "Codex (~/.codex/config.toml)",
      base: `${origin}/v1`,
      code: `model = "${openaiModel}"
model_provider = "torouter"

[model_providers.torouter]
name = "ToRouter"
base_url = "${origin}/v1"
env_key = "TOROUTER_KEY"
wire_api = "responses"`,
    },
    {
      id: "gemini-cli",
      title: "Gemini CLI",
      base: origin,
      code: `export GOOGLE_GEMINI_BASE_URL="${origin}"
export GEMINI_API_KEY="$TOROUTER_KEY"
gemini -m ${geminiModel}`,
    },
  ];
}

export async function render(root, ctx) {
  root.append(notice("Loading…"));
  const catalog = await ctx.models();
  const groups = [...new Set(catalog.map((m) => m.group))];
  const origin = location.origin;
  const groupSelect = h("select", { id: "snippet-group" }, groups.map((g) => h("option", { value: g }, g)));
  const snippetBox = h("div", { class: "snippets", id: "snippets" });
  const showSnippets = () => {
    const ids = catalog.filter((m) => m.group === groupSelect.value).map((m) => m.id);
    clear(
      snippetBox,
      snippets(origin, ids).map((s) => {
        const copy = h("button", { type: "button", class: "small", "aria-label": `Copy the ${s.title} snippet` }, "Copy");
        const code = h("code", {}, s.code);
        copy.addEventListener("click", () => copyText(s.code, copy));
        return h(
          "article",
          { class: "snippet", dataset: { client: s.id } },
          h("header", {}, h("h3", {}, s.title), copy),
          h("p", {}, "Base URL ", h("code", { class: "base-url" }, s.base)),
          h("pre", { tabindex: 0 }, code),
        );
      }),
    );
  };
  groupSelect.addEventListener("change", showSnippets);

  const sections = groups.map((group) => {
    const rows = catalog.filter((m) => m.group === group);
    return h(
      "section",
      { class: "group", dataset: { group } },
      h("h3", {}, `Group ${group}`),
      table(
        [
          { key: "id", label: "Model", cell: (m) => h("code", {}, m.id) },
          { key: "served", label: "Served as", cell: (m) => (m.served_as && m.served_as !== m.id ? m.served_as : h("span", { class: "muted" }, "same")) },
          { key: "upstream", label: "Upstream", cell: (m) => m.upstream },
          { key: "kind", label: "Kind", cell: (m) => m.kind },
          { key: "thinking", label: "Thinking", cell: (m) => (m.thinking ? "yes (-thinking)" : "no") },
          { key: "input", label: "Input $/M", num: true, cell: (m) => rate(m.price, "input") },
          { key: "output", label: "Output $/M", num: true, cell: (m) => rate(m.price, "output") },
          { key: "cache_read", label: "Cache read $/M", num: true, cell: (m) => rate(m.price, "cache_read") },
          { key: "cache_write", label: "Cache write $/M", num: true, cell: (m) => rate(m.price, "cache_write") },
        ],
        rows,
        { empty: "No models." },
      ),
    );
  });
  showSnippets();
  clear(
    root,
    h("h2", {}, "Connect a client"),
    h(
      "p",
      {},
      "Each client takes the gateway's address as its base URL and a caller key (created on the Keys page) as its API key. ",
      "The snippets read the key from ",
      h("code", {}, "TOROUTER_KEY"),
      ".",
    ),
    h("div", { class: "field inline" }, h("label", { for: "snippet-group" }, "Models of group"), groupSelect),
    snippetBox,
    h("h2", {}, "Catalog"),
    h("p", { class: "muted" }, "Prices in USD per million tokens; * has tiers (hover it)."),
    sections,
  );
}
